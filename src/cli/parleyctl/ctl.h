/* parleyctl commands kept in files of their own (provider.c). */
#ifndef PARLEY_CLI_PARLEYCTL_CTL_H
#define PARLEY_CLI_PARLEYCTL_CTL_H

int ctl_provider(const char *db, int argc, char **argv);
int ctl_reports(const char *db, int argc, char **argv);
int ctl_request_key(const char *path);

#endif
