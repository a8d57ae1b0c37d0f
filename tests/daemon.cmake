# End-to-end tests of tesd and tes: real processes on temporary data dirs.
if(TARGET tesd AND TARGET tes)
  tesseras_test(daemon_e2e_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/daemon_e2e_test.cc
    LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(daemon_e2e_test PRIVATE
    TESSERAS_TESD_BIN="$<TARGET_FILE:tesd>"
    TESSERAS_TES_BIN="$<TARGET_FILE:tes>")
  add_dependencies(daemon_e2e_test tesd tes)
endif()
