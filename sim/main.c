/* main.c: videofs-sim (placeholder) */
int main (void) { return 1; }
