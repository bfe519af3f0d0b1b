#pragma once
// Client-side TLS setup shared by every outbound connection (Redis, SMTP):
// TLS 1.2 or newer, certificates verified against the system store or a
// configured CA file by default, host name checked, SNI sent for names.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <openssl/ssl.h>

#include <filesystem>
#include <memory>
#include <string>

namespace herald {

// Builds a client context; on failure (unreadable CA file) returns the error.
boost::system::error_code make_tls_client_context(const std::filesystem::path& ca_file, bool verify,
                                                  std::unique_ptr<boost::asio::ssl::context>& out);

// Prepares one connection's TLS stream before its handshake: SNI (only for
// names, never for IP literals, RFC 6066 §3) and host-name verification.
template <class NextLayer>
void prepare_tls_client(boost::asio::ssl::stream<NextLayer>& stream, const std::string& name, bool verify) {
  boost::system::error_code addr_ec;
  boost::asio::ip::make_address(name, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
  if (verify) stream.set_verify_callback(boost::asio::ssl::host_name_verification(name));
}

}  // namespace herald
