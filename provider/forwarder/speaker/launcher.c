/*
 * Runs one of the VIP's programs (bird, birdc, ip, setpriv) gathered under SPEAKER_DIR with the
 * dynamic loader and libraries gathered beside it, never the node image's own: the node image's
 * C library may be older or another build than the one the programs were linked against, and a
 * LD_LIBRARY_PATH for the whole container would reach Node too.
 *
 * Installed once per program as SPEAKER_DIR/bin/<name>; it runs SPEAKER_DIR/libexec/<name>, the
 * name taken from /proc/self/exe (argv[0] is whatever the caller chose). Linked statically, so
 * it needs nothing from the image it runs in.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SPEAKER_DIR
#error "SPEAKER_DIR (the directory holding bin, libexec and lib) must be defined"
#endif
#ifndef SPEAKER_LOADER
#error "SPEAKER_LOADER (the dynamic loader's file name in SPEAKER_DIR/lib) must be defined"
#endif

int main(int argc, char **argv) {
  char self[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length < 0) {
    fprintf(stderr, "dnlb speaker launcher: cannot read /proc/self/exe: %s\n", strerror(errno));
    return 127;
  }
  self[length] = '\0';
  const char *name = strrchr(self, '/');
  name = name == NULL ? self : name + 1;

  char program[sizeof SPEAKER_DIR "/libexec/" + PATH_MAX];
  snprintf(program, sizeof program, "%s/libexec/%s", SPEAKER_DIR, name);
  const char *loader = SPEAKER_DIR "/lib/" SPEAKER_LOADER;

  /* loader --library-path DIR --argv0 NAME PROGRAM ARGS... */
  char **args = calloc((size_t)argc + 6, sizeof *args);
  if (args == NULL) return 127;
  size_t n = 0;
  args[n++] = (char *)loader;
  args[n++] = "--library-path";
  args[n++] = SPEAKER_DIR "/lib";
  args[n++] = "--argv0";
  args[n++] = (char *)name;
  args[n++] = program;
  for (int i = 1; i < argc; i++) args[n++] = argv[i];
  args[n] = NULL;
  execv(loader, args);
  fprintf(stderr, "dnlb speaker launcher: cannot run %s through %s: %s\n", program, loader, strerror(errno));
  return 127;
}
