#include "core/model/document_event.hpp"

#include <boost/json/parse.hpp>

#include <cassert>

#include "core/util/base64.hpp"

namespace herald {
namespace {

// Objects are built with their final capacity and emplace (every rendered
// message builds one per event: rehashing while growing and assigning over
// default-constructed values was a third of the cost).
void put_if(boost::json::object& o, const char* key, const std::string& v) {
  if (!v.empty()) o.emplace(key, v);
}

boost::json::object party_json(const Party& p, const boost::json::storage_ptr& sp) {
  boost::json::object o(5, sp);
  o.emplace("id", p.id);
  put_if(o, "name", p.name);
  put_if(o, "email", p.email);
  put_if(o, "phone", p.phone);
  put_if(o, "locale", p.locale);
  return o;
}

}  // namespace

boost::json::object to_json(const DocumentEvent& e, bool with_content, boost::json::storage_ptr sp) {
  boost::json::object o(12, sp);  // with room for what rendering adds (contact, locale)
  o.emplace("id", e.id);
  o.emplace("type", e.type);
  o.emplace("occurred_at", e.occurred_at);
  o.emplace("tenant", e.tenant);
  if (e.actor) o.emplace("actor", party_json(*e.actor, sp));
  if (e.on_behalf_of) o.emplace("on_behalf_of", party_json(*e.on_behalf_of, sp));
  if (e.partner) o.emplace("partner", party_json(*e.partner, sp));
  if (e.document) {
    const auto& d = *e.document;
    boost::json::object doc(9, sp);
    put_if(doc, "id", d.id);
    put_if(doc, "kind", d.kind);
    put_if(doc, "number", d.number);
    put_if(doc, "status", d.status);
    put_if(doc, "previous_status", d.previous_status);
    put_if(doc, "total", d.total);
    put_if(doc, "currency", d.currency);
    put_if(doc, "due_date", d.due_date);
    if (!d.attachments.empty()) {
      boost::json::array atts(sp);
      for (const auto& a : d.attachments) {
        boost::json::object ao(3, sp);
        ao.emplace("filename", a.filename);
        ao.emplace("content_type", a.content_type);
        // The journal form must decode again with EventDecoder (strict about
        // unknown fields); the display form shows the size instead.
        if (with_content) ao.emplace("content_base64", base64_encode(a.content));
        else ao.emplace("size", a.content.size());
        atts.push_back(std::move(ao));
      }
      doc.emplace("attachments", std::move(atts));
    }
    o.emplace("document", std::move(doc));
  }
  if (!e.data.empty()) {
    // Text EventDecoder wrote from a validated object: it parses (a repeated
    // key keeps its last value, as in the event).
    boost::system::error_code ec;
    boost::json::value data = boost::json::parse(e.data, ec, sp);
    assert(!ec && data.is_object());
    if (!ec && data.is_object()) o.emplace("data", std::move(data));
  }
  return o;
}

}  // namespace herald
