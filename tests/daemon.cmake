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

# The HTTP listener (dashboard, token, Host/Origin rules, /metrics) and tes ui.
if(TARGET tesd AND TARGET tes)
  tesseras_test(http_e2e_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/http_e2e_test.cc
    LIBS nlohmann_json::nlohmann_json)
  target_compile_definitions(http_e2e_test PRIVATE
    TESSERAS_TESD_BIN="$<TARGET_FILE:tesd>"
    TESSERAS_TES_BIN="$<TARGET_FILE:tes>")
  add_dependencies(http_e2e_test tesd tes)
endif()
