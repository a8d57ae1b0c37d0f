# big_node: the big-node benchmark's filler and in-process probe, driven by
# bench/big_node.py (docs/PERFORMANCE.md). The suite runs its smallest size.
if(TARGET tesseras_replication_net AND TARGET tesseras_storage AND TARGET tesd AND TARGET tes)
  add_executable(big_node ${CMAKE_CURRENT_LIST_DIR}/big_node.cc)
  target_compile_options(big_node PRIVATE ${TESSERAS_WARNINGS})
  target_link_libraries(big_node PRIVATE tesseras_replication_net tesseras_storage
                        nlohmann_json::nlohmann_json)
  if(TESSERAS_BUILD_TESTS)
    find_package(Python3 COMPONENTS Interpreter REQUIRED)
    add_test(NAME big_node_1000
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/big_node.py
                     --build-dir ${PROJECT_BINARY_DIR} --sizes 1000 --check)
    set_tests_properties(big_node_1000 PROPERTIES TIMEOUT 300)
  endif()
endif()
