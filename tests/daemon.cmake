# End-to-end tests of tesd and tes: real processes on temporary data dirs.
if(TARGET tesd AND TARGET tes)
  tesseras_test(daemon_e2e_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/daemon_e2e_test.cc
    LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(daemon_e2e_test PRIVATE
    TESSERAS_TESD_BIN="$<TARGET_FILE:tesd>"
    TESSERAS_TES_BIN="$<TARGET_FILE:tes>")
  target_include_directories(daemon_e2e_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_dependencies(daemon_e2e_test tesd tes)
endif()

# Maintenance under churn: real tesd processes, 14 to 50 nodes.
if(TARGET tesd AND TARGET tes)
  tesseras_test(maintenance_e2e_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/maintenance_e2e_test.cc
    LIBS nlohmann_json::nlohmann_json tesseras_crypto)
  target_include_directories(maintenance_e2e_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(maintenance_e2e_test PRIVATE
    TESSERAS_TESD_BIN="$<TARGET_FILE:tesd>"
    TESSERAS_TES_BIN="$<TARGET_FILE:tes>")
  add_dependencies(maintenance_e2e_test tesd tes)
  if(TESSERAS_SANITIZE)
    # A Large tessera (>= 256 MiB) through the sanitizers would take minutes.
    target_compile_definitions(maintenance_e2e_test PRIVATE TESSERAS_SKIP_LARGE=1)
  endif()
endif()
