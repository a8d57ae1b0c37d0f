# Storage at scale: what a holder reads per audit over the real fragment store,
# and the big-node benchmark at its smallest size (bench/big_node.sh).
if(TARGET tesseras_storage AND TARGET tesseras_replication)
  tesseras_test(attestation_cost_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/attestation_cost_test.cc
    LIBS tesseras_replication tesseras_storage)
endif()
