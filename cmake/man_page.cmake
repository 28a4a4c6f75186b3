# Writes rwgate.1.gz, the man page, from what the built binary says of itself
# (`rwgate --help` and `--version`), so the page and the flags cannot drift apart.
# In: BIN (the rwgate binary), OUT (the .1.gz to write), VERSION.
execute_process(COMMAND "${BIN}" --help OUTPUT_VARIABLE usage RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${BIN} --help failed (${rc})")
endif()
# roff: a leading '.' or "'" would be a request, and '\' an escape.
string(REPLACE "\\" "\\e" usage "${usage}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" usage "${usage}")
string(TIMESTAMP date "%Y-%m-%d" UTC)
file(WRITE "${OUT}.src/rwgate.1" ".TH RWGATE 1 \"${date}\" \"rwgate ${VERSION}\" \"User Commands\"
.SH NAME
rwgate \\- Prometheus remote-write proxy that adds fleet context
.SH SYNOPSIS
.B rwgate
\\-\\-config.file=\\fIFILE\\fR [\\fIflags\\fR]
.br
.B rwgate check config
\\fIFILE\\fR
.SH DESCRIPTION
rwgate takes remote_write from Prometheus, agents, vmagent or Alloy, adds what service
discovery knows of each instance (Auto Scaling group, zone, lifecycle state), flags
targets scraped through a load balancer, ends the series of terminated instances with
staleness markers, and sends everything on to long-term stores.
.SH USAGE
.nf
${usage}.fi
.SH FILES
.TP
.I /etc/rwgate/rwgate.yml
the configuration (reference: /usr/share/doc/rwgate/configuration.md)
.TP
.I /etc/default/rwgate
flags for the systemd unit (ARGS=...)
.TP
.I /var/lib/rwgate
the service's state directory, for disk buffers
.SH SIGNALS
SIGHUP re-reads the configuration; SIGTERM drains the queues for up to
\\-\\-shutdown.timeout, then exits.
")
file(ARCHIVE_CREATE OUTPUT "${OUT}" PATHS "${OUT}.src/rwgate.1" FORMAT raw COMPRESSION GZip)
