// app/main.cpp — herd's entry point (placeholder until the wiring lands).
#include <cstdio>

int main() {
  std::puts("herd version 0.1.0");
  return 0;
}
