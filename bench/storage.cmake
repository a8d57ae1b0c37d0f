tesseras_bench(storage_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/storage_bench.cc
  LIBS tesseras_storage)
