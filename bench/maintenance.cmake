# Repair traffic of the maintenance policy on the real service (no Google
# Benchmark: byte counts, not timings).
if(TARGET tesseras_replication)
  add_executable(maintenance_bench ${CMAKE_CURRENT_LIST_DIR}/maintenance_bench.cc)
  target_compile_options(maintenance_bench PRIVATE ${TESSERAS_WARNINGS})
  target_link_libraries(maintenance_bench PRIVATE tesseras_replication nlohmann_json::nlohmann_json)
endif()
