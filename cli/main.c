/* placeholder until the CLI lands */
#include <stdio.h>
#include "ingot.h"
int main(void) { printf("ingot %s\n", INGOT_VERSION); return 0; }
