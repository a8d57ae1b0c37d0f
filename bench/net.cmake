# Network and DHT benchmarks (owner: network/DHT issue).
if(TARGET tesseras_dht)
  tesseras_bench(net_bench SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_bench.cc LIBS tesseras_dht)
endif()
