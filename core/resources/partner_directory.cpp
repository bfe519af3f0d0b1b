#include "core/resources/partner_directory.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <random>

#include "core/config/toml_reader.hpp"
#include "core/util/hash.hpp"

namespace herald {

const char* to_string(Channel c) {
  switch (c) {
    case Channel::email: return "email";
    case Channel::sms: return "sms";
    case Channel::webhook: return "webhook";
  }
  return "email";
}

Channel channel_from_string(std::string_view s) {
  if (s == "sms") return Channel::sms;
  if (s == "webhook") return Channel::webhook;
  return Channel::email;
}

const char* to_string(ContactKind k) {
  switch (k) {
    case ContactKind::email: return "email";
    case ContactKind::mobile: return "mobile";
    case ContactKind::landline: return "landline";
    case ContactKind::web: return "web";
  }
  return "email";
}

bool channel_fits(ContactKind kind, Channel ch) {
  switch (kind) {
    case ContactKind::email: return ch == Channel::email;
    case ContactKind::mobile: return ch == Channel::sms;
    case ContactKind::web: return ch == Channel::webhook;
    case ContactKind::landline: return false;
  }
  return false;
}

PartnerDirectory::PartnerDirectory() : pool_(1, '\0'), slots_(16, PartnerRec{}), seed_(std::random_device{}()) {}

uint64_t PartnerDirectory::hash(std::string_view tenant, std::string_view id) const {
  return hash_bytes(id, hash_bytes(tenant, seed_));
}

template <bool kPrefetch, class StrOf>
size_t PartnerDirectory::probe(std::string_view tenant, std::string_view id, uint64_t h, const StrOf& str_of) const {
  const size_t mask = slots_.size() - 1;
  const auto tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const PartnerRec& p = slots_[i];
    if (p.id == 0) return i;
    if (p.tag != tag) continue;
    if constexpr (kPrefetch) {
      // A match goes on to the partner's actions and contacts: start those
      // cache misses now, in parallel with comparing the id.
      __builtin_prefetch(actions_.data() + p.first_action);
      __builtin_prefetch(contacts_.data() + p.first_contact);
    }
    if (str_of(p.id) == id && str_of(p.tenant) == tenant) return i;
  }
}

PartnerView PartnerDirectory::find(std::string_view tenant, std::string_view id) const {
  if (count_ == 0) return {};
  const auto i = static_cast<uint32_t>(probe<true>(tenant, id, hash(tenant, id), [this](Ref r) { return str(r); }));
  return slots_[i].id == 0 ? PartnerView{} : PartnerView{this, i};
}

template <class StrOf>
void PartnerDirectory::grow(const StrOf& str_of) {
  PageVector<PartnerRec> old(slots_.size() * 2, PartnerRec{});
  old.swap(slots_);
  for (const PartnerRec& p : old)
    if (p.id != 0) slots_[probe<false>(str_of(p.tenant), str_of(p.id), hash(str_of(p.tenant), str_of(p.id)), str_of)] = p;
}

size_t PartnerDirectory::lower_bound(std::string_view tenant, std::string_view id) const {
  auto it = std::lower_bound(order_.begin(), order_.end(), 0, [&](uint32_t i, int) {
    const PartnerRec& p = slots_[i];
    int c = str(p.tenant).compare(tenant);
    return c < 0 || (c == 0 && str(p.id) < id);
  });
  return static_cast<size_t>(it - order_.begin());
}

size_t PartnerDirectory::memory_bytes() const {
  size_t n = pool_.size() + slots_.size() * sizeof(PartnerRec) +
             contacts_.size() * sizeof(ContactRec) + actions_.size() * sizeof(ActionRec) +
             whens_.size() * sizeof(Expression) +
             order_.size() * sizeof(uint32_t);
  for (const auto& w : whens_) n += w.source().capacity();
  return n;
}

boost::json::object PartnerView::to_json() const {
  boost::json::object o;
  o["id"] = id();
  o["tenant"] = tenant();
  if (!name().empty()) o["name"] = name();
  if (!locale().empty()) o["locale"] = locale();
  if (rec().am_email || rec().am_mobile) {
    boost::json::object am;
    if (rec().am_name) am["name"] = dir_->str(rec().am_name);
    if (rec().am_email) am["email"] = dir_->str(rec().am_email);
    if (rec().am_mobile) am["mobile"] = dir_->str(rec().am_mobile);
    o["account_manager"] = std::move(am);
  }
  boost::json::array contacts;
  for (size_t k = 0; k < contact_count(); ++k) {
    ContactView c = contact(k);
    boost::json::object co{{"id", c.id()}, {"kind", to_string(c.kind())}, {"value", c.value()}};
    if (!c.label().empty()) co["label"] = c.label();
    if (!c.name().empty()) co["name"] = c.name();
    if (!c.locale().empty()) co["locale"] = c.locale();
    boost::json::array actions;
    for (size_t j = 0; j < c.action_count(); ++j) {
      ActionView a = c.action(j);
      boost::json::object ao{{"on", a.on()}, {"template", a.template_id()}};
      if (const Expression* w = a.when()) ao["when"] = w->source();
      if (a.attach()) ao["attach"] = true;
      actions.push_back(std::move(ao));
    }
    if (!actions.empty()) co["actions"] = std::move(actions);
    contacts.push_back(std::move(co));
  }
  if (!contacts.empty()) o["contacts"] = std::move(contacts);
  return o;
}

template <class T>
T* PartnerDirectory::Builder::Chunked<T>::append(size_t n) {
  if (chunks_.empty() || chunks_.back().capacity() - chunks_.back().size() < n) {
    starts_.push_back(size_);
    chunks_.emplace_back().reserve(std::max(kChunkBytes / sizeof(T), n));
  }
  auto& chunk = chunks_.back();
  chunk.resize(chunk.size() + n);  // within its capacity: never moves
  size_ += n;
  return chunk.data() + chunk.size() - n;
}

template <class T>
const T* PartnerDirectory::Builder::Chunked<T>::at(size_t i) const {
  const size_t k = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
  return chunks_[k].data() + (i - starts_[k]);
}

template <class T>
template <class Out>
void PartnerDirectory::Builder::Chunked<T>::move_to(Out& out) {
  out.reserve(out.size() + size_);
  for (auto& chunk : chunks_) {
    out.insert(out.end(), chunk.begin(), chunk.end());
    std::vector<T, PageAllocator<T>>().swap(chunk);  // unmapped as soon as copied
  }
  chunks_.clear();
  starts_.clear();
  size_ = 0;
}

PartnerDirectory::Builder::Builder() : dir_(std::make_unique<PartnerDirectory>()) {
  // Ref 0 is the empty string, as in the directory's own pool (which build()
  // replaces with this one).
  *pool_.append(1) = '\0';
}

PartnerDirectory::Builder::~Builder() = default;

std::string_view PartnerDirectory::Builder::str(Ref r) const { return decode(pool_.at(r)); }

PartnerDirectory::Ref PartnerDirectory::Builder::store(std::string_view s) {
  if (s.empty()) return 0;
  // Lengths are 1 byte below 128, else 3 bytes (up to 8 MiB; resource
  // strings are single lines, ids and addresses).
  if (s.size() >= (size_t{1} << 23)) throw ConfigError("partner resources: a string longer than 8 MiB");
  if (pool_.size() + s.size() + 3 > UINT32_MAX) throw ConfigError("partner resources: more than 4 GiB of text");
  const auto ref = static_cast<Ref>(pool_.size());
  const size_t prefix = s.size() < 0x80 ? 1 : 3;
  char* out = pool_.append(prefix + s.size());
  if (prefix == 1) {
    out[0] = static_cast<char>(s.size());
  } else {
    out[0] = static_cast<char>(0x80 | (s.size() & 0x7f));
    out[1] = static_cast<char>((s.size() >> 7) & 0xff);
    out[2] = static_cast<char>((s.size() >> 15) & 0xff);
  }
  std::memcpy(out + prefix, s.data(), s.size());
  return ref;
}

PartnerDirectory::Ref PartnerDirectory::Builder::intern(std::string_view s) {
  if (s.empty()) return 0;
  auto [it, fresh] = interned_.try_emplace(std::string(s), 0);
  if (fresh) it->second = store(s);
  return it->second;
}

bool PartnerDirectory::Builder::add(const Partner& p, std::string_view file,
                                    const std::function<std::string(size_t, size_t)>& where) {
  PartnerDirectory& d = *dir_;
  auto str_of = [this](Ref r) { return str(r); };
  const uint64_t h = d.hash(p.tenant, p.id);
  if (d.slots_[d.probe<false>(p.tenant, p.id, h, str_of)].id != 0) return false;
  if (d.files_.empty() || d.files_.back() != file) d.files_.emplace_back(file);

  PartnerRec rec{};
  rec.tenant = intern(p.tenant);
  rec.id = store(p.id);
  rec.name = store(p.name);
  rec.locale = intern(p.locale);
  rec.am_name = store(p.account_manager_name);
  for (const auto& m : p.account_managers) (m.kind == ContactKind::email ? rec.am_email : rec.am_mobile) = store(m.value);
  rec.first_contact = static_cast<uint32_t>(contacts_.size());
  rec.contacts = static_cast<uint32_t>(p.contacts.size());
  rec.first_action = static_cast<uint32_t>(actions_.size());
  rec.file = static_cast<uint32_t>(d.files_.size() - 1);
  for (size_t ci = 0; ci < p.contacts.size(); ++ci) {
    const Contact& c = p.contacts[ci];
    if (c.actions.size() > UINT16_MAX) throw ConfigError("partner \"" + p.id + "\": more than 65535 actions on a contact");
    const auto contact_index = static_cast<uint32_t>(contacts_.size());
    *contacts_.append(1) = {store(c.id), store(c.value), intern(c.label), store(c.name), intern(c.locale),
                            static_cast<uint32_t>(actions_.size()), static_cast<uint16_t>(c.actions.size()), c.kind};
    for (size_t ai = 0; ai < c.actions.size(); ++ai) {
      const Action& a = c.actions[ai];
      uint32_t when = kAlways;
      if (!a.when.always()) {
        when = static_cast<uint32_t>(d.whens_.size());
        d.whens_.push_back(a.when);
      }
      *actions_.append(1) = {intern(a.on), intern(a.template_id), when, contact_index, a.attach};
      auto [it, fresh] = uses_.try_emplace(a.template_id, d.uses_.size());
      if (fresh) d.uses_.push_back({a.template_id, 0, {}});
      TemplateUse& use = d.uses_[it->second];
      const auto bit = static_cast<uint8_t>(1u << static_cast<unsigned>(c.kind));
      if (!(use.kinds & bit)) {
        use.kinds |= bit;
        use.where[static_cast<size_t>(c.kind)] = where(ci, ai);
      }
    }
  }
  rec.actions = static_cast<uint32_t>(actions_.size() - rec.first_action);
  rec.tag = static_cast<uint32_t>(h >> 32);
  // At most 3/4 full; probe again, as growing moves every record.
  if ((d.count_ + 1) * 4 > d.slots_.size() * 3) d.grow(str_of);
  d.slots_[d.probe<false>(p.tenant, p.id, h, str_of)] = rec;
  ++d.count_;
  return true;
}

std::shared_ptr<const PartnerDirectory> PartnerDirectory::Builder::build() {
  PartnerDirectory& d = *dir_;
  d.pool_.clear();
  pool_.move_to(d.pool_);
  contacts_.move_to(d.contacts_);
  actions_.move_to(d.actions_);
  d.order_.clear();
  d.order_.reserve(d.count_);
  for (uint32_t i = 0; i < d.slots_.size(); ++i)
    if (d.slots_[i].id != 0) d.order_.push_back(i);
  std::sort(d.order_.begin(), d.order_.end(), [&](uint32_t a, uint32_t b) {
    const PartnerRec& x = d.slots_[a];
    const PartnerRec& y = d.slots_[b];
    int c = d.str(x.tenant).compare(d.str(y.tenant));
    return c < 0 || (c == 0 && d.str(x.id) < d.str(y.id));
  });
  interned_.clear();
  uses_.clear();
  return std::shared_ptr<const PartnerDirectory>(std::move(dir_));
}

}  // namespace herald
