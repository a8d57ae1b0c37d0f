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

# The Debian package made from this build's tesd and tes, checked without
# installing it (packaging/check-package.sh: lintian, dpkg -x, systemd-analyze
# verify and security, sysusers, the extracted daemon run under strace against
# the unit's system call filter). Not under the sanitizers: their runtime makes
# system calls of its own. CI also packages the hardened release build.
if(TARGET tesd AND TARGET tes AND NOT TESSERAS_SANITIZE)
  add_test(NAME package_test
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/package.sh --build-dir ${PROJECT_BINARY_DIR}
                   --out ${PROJECT_BINARY_DIR}/package-test)
  set_tests_properties(package_test PROPERTIES TIMEOUT 300)
endif()
