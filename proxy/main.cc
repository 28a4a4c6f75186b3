// rwgate: a Prometheus remote-write proxy that adds fleet context to every series.
//
//   rwgate [--config.file=FILE] [--web.listen-address=HOST:PORT] [--log.level=LEVEL]
//          [--sink.url=URL] [--shutdown.timeout=DURATION]
//   rwgate check config FILE
//   rwgate relabel --rules FILE
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "base/log.h"
#include "base/net.h"
#include "proxy/config.h"
#include "proxy/gateway.h"
#include "proxy/relabel_command.h"
#include "proxy/trace_service.h"
#include "proxy/version.h"
#include "proxy/web_config.h"

namespace {

using namespace rwgate;

constexpr int kExitConfigError = 2;

constexpr const char* kUsage = R"(usage:
  rwgate [flags]                  run the proxy
  rwgate check config FILE        validate FILE; print every error with its YAML path; exit 2 on errors
  rwgate check web-config FILE    validate a --web.config.file the same way
  rwgate relabel --rules FILE [--name-validation-scheme=utf8|legacy]
                                  apply the relabel_config list in FILE to label sets read from
                                  stdin (one JSON object a line); print each result or null
  rwgate trace --config.file=FILE what the pipeline of FILE does to each label set read from
                                  stdin (one JSON object a line): one JSON trace a line

flags:
  --config.file=FILE              configuration file (YAML); without it, a built-in default
  --web.listen-address=HOST:PORT  overrides server.listen_address (default 127.0.0.1:9201)
  --web.config.file=FILE          Prometheus web config: tls_server_config, basic_auth_users,
                                  http_server_config
  --web.max-connections=N         most connections open at once (default 512)
  --sink.url=URL                  with no --config.file: forward everything to this remote_write URL
  --log.level=LEVEL               debug | info | warn | error (default info)
  --shutdown.timeout=DURATION     how long SIGTERM waits for queues to drain (default 30s)
  --version                       print the version and exit
)";

struct Flags {
  std::string config_file;
  std::string listen_address;
  std::string web_config_file;
  std::string sink_url;
  std::string log_level = "info";
  std::string shutdown_timeout = "30s";
  std::string max_connections = "512";
};

// --web.max-connections as a number; 0 when it is not a positive one.
int max_connections(const Flags& flags) {
  int n = 0;
  const std::string& s = flags.max_connections;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc() && p == s.data() + s.size() && n > 0 ? n : 0;
}

bool take(std::string_view arg, std::string_view name, std::string& out) {
  if (!arg.starts_with(name) || arg.size() <= name.size() || arg[name.size()] != '=') return false;
  out = std::string(arg.substr(name.size() + 1));
  return true;
}

int check_web_config(const std::string& file) {
  proxy::WebConfigResult r = proxy::load_web_config_file(file);
  for (const std::string& e : r.errors) std::cerr << file << ": " << e << "\n";
  if (!r.config) return kExitConfigError;
  std::cout << file << ": ok (" << r.config->users.size() << " user"
            << (r.config->users.size() == 1 ? "" : "s")
            << (r.config->tls ? ", TLS" : ", plain HTTP") << ")\n";
  return 0;
}

int check_config(const std::string& file) {
  proxy::ConfigResult r = proxy::load_config_file(file);
  for (const std::string& e : r.errors) std::cerr << e << "\n";
  if (!r.config) return kExitConfigError;
  std::cout << file << ": ok (" << r.config->sinks.size() << " sink"
            << (r.config->sinks.size() == 1 ? "" : "s") << ")\n";
  return 0;
}

// `rwgate relabel --rules FILE`.
int relabel_main(int argc, char** argv) {
  std::string rules;
  std::string scheme = "utf8";
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--rules" && i + 1 < argc) {
      rules = argv[++i];
    } else if (!take(a, "--rules", rules) && !take(a, "--name-validation-scheme", scheme)) {
      std::cerr << "rwgate relabel: unknown argument \"" << a << "\"\n" << kUsage;
      return kExitConfigError;
    }
  }
  if (rules.empty()) {
    std::cerr << "rwgate relabel: --rules FILE is required\n" << kUsage;
    return kExitConfigError;
  }
  relabel::NameValidation names{};
  if (!relabel::parse_name_validation(scheme, names)) {
    std::cerr << "rwgate relabel: --name-validation-scheme must be utf8 or legacy\n";
    return kExitConfigError;
  }
  return proxy::run_relabel_command(rules, names, std::cin, std::cout, std::cerr);
}

// Reads the flags; a problem goes to `errors`. Returns an exit code when the process is
// done already (--help, --version).
std::optional<int> parse_flags(int argc, char** argv, Flags& flags,
                               std::vector<std::string>& errors) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << proxy::version_text();
      return 0;
    }
    if (!(take(a, "--config.file", flags.config_file) ||
          take(a, "--web.listen-address", flags.listen_address) ||
          take(a, "--web.config.file", flags.web_config_file) ||
          take(a, "--sink.url", flags.sink_url) || take(a, "--log.level", flags.log_level) ||
          take(a, "--shutdown.timeout", flags.shutdown_timeout) ||
          take(a, "--web.max-connections", flags.max_connections))) {
      errors.push_back("unknown argument \"" + std::string(a) + "\"");
    }
  }
  log::Level level{};
  if (!log::parse_level(flags.log_level, level))
    errors.push_back("--log.level: must be debug, info, warn or error");
  log::set_level(level);
  if (!parse_duration(flags.shutdown_timeout))
    errors.push_back("--shutdown.timeout: not a valid duration");
  if (max_connections(flags) <= 0)
    errors.push_back("--web.max-connections: must be a positive integer, not \"" +
                     flags.max_connections + "\"");
  return std::nullopt;
}

// The file, or the built-in default; flags override the file.
proxy::Config load_config(const Flags& flags, std::vector<std::string>& errors) {
  proxy::Config config;
  if (!flags.config_file.empty()) {
    proxy::ConfigResult r = proxy::load_config_file(flags.config_file);
    errors.insert(errors.end(), r.errors.begin(), r.errors.end());
    if (r.config) config = std::move(*r.config);
    if (!flags.sink_url.empty())
      errors.push_back("--sink.url: use it without --config.file, or add a sink to the file");
  } else {
    std::string why;
    if (!flags.sink_url.empty() && !net::parse_url(flags.sink_url, why))
      errors.push_back("--sink.url: " + why);
    config = proxy::default_config(flags.sink_url);
  }
  if (!flags.listen_address.empty()) config.server.listen_address = flags.listen_address;
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  // 1. Subcommands that do not run the proxy.
  if (argc >= 2 && std::string_view(argv[1]) == "check") {
    const std::string_view what = argc == 4 ? argv[2] : "";
    if (what == "config") return check_config(argv[3]);
    if (what == "web-config") return check_web_config(argv[3]);
    std::cerr << kUsage;
    return kExitConfigError;
  }
  if (argc >= 2 && std::string_view(argv[1]) == "relabel") return relabel_main(argc, argv);
  if (argc >= 2 && std::string_view(argv[1]) == "trace") {
    std::string file;
    if (argc != 3 || !take(argv[2], "--config.file", file)) {
      std::cerr << kUsage;
      return kExitConfigError;
    }
    return proxy::run_trace_command(file, std::cin, std::cout, std::cerr);
  }

  // 2. Flags, then 3. the configuration: every problem is reported, then exit 2.
  Flags flags;
  std::vector<std::string> errors;
  if (const std::optional<int> done = parse_flags(argc, argv, flags, errors)) return *done;
  proxy::Config config = load_config(flags, errors);
  std::optional<proxy::WebConfig> web_config;
  if (!flags.web_config_file.empty()) {
    proxy::WebConfigResult r = proxy::load_web_config_file(flags.web_config_file);
    for (const std::string& e : r.errors)
      errors.push_back("--web.config.file " + flags.web_config_file + ": " + e);
    web_config = std::move(r.config);
  }
  if (!errors.empty()) {
    for (const std::string& e : errors) std::cerr << e << "\n";
    return kExitConfigError;
  }

  // 4. Signals go to one io_context on the main thread; block them everywhere else.
  ::signal(SIGPIPE, SIG_IGN);
  boost::asio::io_context signals_ioc(1);
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM, SIGHUP);

  // 5. Start: sinks first, then the listener; readiness turns on when both are up.
  proxy::Gateway gateway(std::move(config), flags.config_file,
                         *parse_duration(flags.shutdown_timeout));
  if (web_config) gateway.set_web_config(flags.web_config_file, std::move(*web_config));
  gateway.set_max_connections(max_connections(flags));
  if (Status st = gateway.start(); !st) {
    log::error("cannot start", {{"error", st.reason()}});
    return 1;
  }

  // 6. Run until SIGTERM/SIGINT; SIGHUP reloads the configuration.
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      log::info("SIGHUP: reloading configuration");
      if (Status st = gateway.reload(); !st) log::error("reload failed", {{"error", st.reason()}});
      signals.async_wait(on_signal);
      return;
    }
    log::info("received signal; shutting down",
              {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
  };
  signals.async_wait(on_signal);
  signals_ioc.run();

  // 7. Drain: stop intake, finish requests, flush queues up to the deadline, exit 0.
  gateway.shutdown();
  return 0;
}
