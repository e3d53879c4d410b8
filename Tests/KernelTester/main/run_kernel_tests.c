/* Standalone runner for the kernel tests (cross-compiled for qemu, and for sanitizers).
 *   run_kernel_tests [--suite NAME] [--isa NAME] [--expect-default ISA]
 * Ends with "N passed, N failed"; exit status 1 on any failure. */
#include <stdio.h>
#include <string.h>

#include "lotr_kernel_tester.h"

int main(int argc, char** argv) {
  const char* suite = NULL;
  const char* isa = NULL;
  const char* expect = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc) suite = argv[++i];
    else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) isa = argv[++i];
    else if (strcmp(argv[i], "--expect-default") == 0 && i + 1 < argc) expect = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--suite NAME] [--isa NAME] [--expect-default ISA]\n", argv[0]);
      return 2;
    }
  }
  lotr_test_summary s = lotr_kernel_tests_run(suite, isa, expect);
  printf("%d passed, %d failed\n", s.passed, s.failed);
  return s.failed == 0 && s.passed > 0 ? 0 : 1;
}
