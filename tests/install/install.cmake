# The installed library, headers, man page and parley.pc, used as a
# program outside this tree would use them.
add_test(NAME install_pkgconfig
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/install_check.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
# Label install too: a program built outside the tree does not load the
# sanitizers' runtime first, so `make test-asan` leaves this one out.
set_tests_properties(install_pkgconfig PROPERTIES LABELS "integration;install" TIMEOUT 120)
