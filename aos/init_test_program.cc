// A minimal AOS program for init_test.cc: initializes, then prints its
// remaining arguments and the value of --init_test_value.
#include <iostream>

#include "aos/init.h"
#include "gflags/gflags.h"

DEFINE_int32(init_test_value, 0, "A value for init_test.cc to set.");

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  std::cout << "value=" << FLAGS_init_test_value;
  for (int i = 1; i < argc; ++i) std::cout << " " << argv[i];
  std::cout << std::endl;
  return aos::IsInitialized() ? 0 : 2;
}
