# Multi-node DHT scenarios on real loopback sockets (owner: network/DHT issue).
if(TARGET tesseras_dht)
  tesseras_test(dht_network_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/dht_network_test.cc
    LIBS tesseras_dht)
endif()
