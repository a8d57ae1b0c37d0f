tesseras_bench(coding_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/coding_bench.cc
  LIBS tesseras_replication)
