#include "transports/tls/tls_client.hpp"

namespace herald {

namespace ssl = boost::asio::ssl;

boost::system::error_code make_tls_client_context(const std::filesystem::path& ca_file, bool verify,
                                                  std::unique_ptr<ssl::context>& out) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (ca_file.empty()) ctx->set_default_verify_paths(ec);
  else ctx->load_verify_file(ca_file.string(), ec);
  if (ec) return ec;
  ctx->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
  out = std::move(ctx);
  return {};
}

}  // namespace herald
