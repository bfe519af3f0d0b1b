#pragma once
// PartnerDirectory: partners, their contacts and contacts' actions, compact
// and immutable, sized for 100k partners × 10 contacts within the daemon's
// memory budget (SPEC §8: ≤ 150 MB resident).
//
// A std::map of Partner structs with std::string fields and a std::vector per
// contact cost about 2 KB per contact once allocator overhead is counted. Here
// every string is a 4-byte offset into one pool (length-prefixed, repeated
// values such as event types, template ids, locales and labels stored once),
// contacts and actions sit in flat arrays, and lookup is one open-addressing
// table of 8-byte slots: about 100 bytes per contact with one action.
//
// Lookup by (tenant, partner id) costs a hash, one slot probe, the partner
// record and its id bytes; the partner's actions are then contiguous. The
// directory also answers the admin API (sorted listing, a partner as JSON) so
// no parsed TOML has to be kept for partners.
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/match/expression.hpp"
#include "core/util/page_allocator.hpp"

namespace herald {

enum class Channel : uint8_t { email, sms, webhook };
enum class ContactKind : uint8_t { email, mobile, landline, web };
constexpr unsigned kContactKindCount = 4;

const char* to_string(Channel c);
Channel channel_from_string(std::string_view s);  // inverse of to_string
const char* to_string(ContactKind k);
// Which channel a contact kind receives (SPEC §4: landline none).
bool channel_fits(ContactKind kind, Channel ch);

// Someone a message can go to (a contact, a group member, an account manager).
struct Recipient {
  ContactKind kind = ContactKind::email;
  std::string value;  // address or number
  std::string name;
};

// The same, as views into resources or the event (both outlive a match).
struct RecipientView {
  ContactKind kind = ContactKind::email;
  std::string_view value;
  std::string_view name;
};

// A partner as parsed from one [[partner]] table, before it is packed into a
// directory.
struct Action {
  std::string on;  // event type
  Expression when;
  std::string template_id;
  bool attach = false;  // attach the document's attachments
};

struct Contact {
  std::string id;
  ContactKind kind = ContactKind::email;
  std::string value;   // address or number
  std::string label;   // "sales", "warehouse", ...
  std::string name;    // display name
  std::string locale;  // overrides the partner's
  std::vector<Action> actions;
};

struct Partner {
  std::string tenant = "default";
  std::string id;
  std::string name;
  std::string locale;
  std::string account_manager_name;
  std::vector<Recipient> account_managers;  // e-mail and/or mobile of one person
  std::vector<Contact> contacts;
};

class PartnerDirectory final {
  using Ref = uint32_t;  // offset of a length-prefixed string in pool_
  struct ActionRec {
    Ref type, tmpl;
    uint32_t when;     // index into whens_, kAlways when none
    uint32_t contact;  // index into contacts_
    bool attach;
  };
  struct ContactRec {
    Ref id, value, label, name, locale;
    uint32_t first_action;
    uint16_t actions;
    ContactKind kind;
  };
  struct PartnerRec {
    Ref tenant, id, name, locale, am_name, am_email, am_mobile;
    uint32_t first_contact, contacts;
    uint32_t first_action, actions;
    uint32_t file;  // index into files_
    uint32_t tag;   // high half of the key's hash
  };
  static constexpr uint32_t kAlways = ~0u;

 public:
  class ActionView;
  class ContactView;
  class PartnerView;
  class ActionView final {
   public:
    ActionView() = default;
    explicit operator bool() const { return dir_ != nullptr; }
    std::string_view on() const { return dir_->str(rec().type); }
    std::string_view template_id() const { return dir_->str(rec().tmpl); }
    const Expression* when() const { return rec().when == kAlways ? nullptr : &dir_->whens_[rec().when]; }
    bool attach() const { return rec().attach; }
    ContactView contact() const { return {dir_, rec().contact}; }

   private:
    friend class PartnerDirectory;
    friend class ContactView;
    friend class PartnerView;
    ActionView(const PartnerDirectory* d, uint32_t i) : dir_(d), i_(i) {}
    const ActionRec& rec() const { return dir_->actions_[i_]; }
    const PartnerDirectory* dir_ = nullptr;
    uint32_t i_ = 0;
  };

  class ContactView final {
   public:
    ContactView() = default;
    explicit operator bool() const { return dir_ != nullptr; }
    std::string_view id() const { return dir_->str(rec().id); }
    ContactKind kind() const { return rec().kind; }
    std::string_view value() const { return dir_->str(rec().value); }
    std::string_view label() const { return dir_->str(rec().label); }
    std::string_view name() const { return dir_->str(rec().name); }
    std::string_view locale() const { return dir_->str(rec().locale); }
    size_t action_count() const { return rec().actions; }
    ActionView action(size_t k) const { return {dir_, rec().first_action + static_cast<uint32_t>(k)}; }
    RecipientView recipient() const { return {kind(), value(), name()}; }

   private:
    friend class PartnerDirectory;
    friend class ActionView;
    friend class PartnerView;
    ContactView(const PartnerDirectory* d, uint32_t i) : dir_(d), i_(i) {}
    const ContactRec& rec() const { return dir_->contacts_[i_]; }
    const PartnerDirectory* dir_ = nullptr;
    uint32_t i_ = 0;
  };

  class PartnerView final {
   public:
    PartnerView() = default;
    explicit operator bool() const { return dir_ != nullptr; }
    std::string_view tenant() const { return dir_->str(rec().tenant); }
    std::string_view id() const { return dir_->str(rec().id); }
    std::string_view name() const { return dir_->str(rec().name); }
    std::string_view locale() const { return dir_->str(rec().locale); }
    std::string_view file() const { return dir_->files_[rec().file]; }
    size_t contact_count() const { return rec().contacts; }
    ContactView contact(size_t k) const { return {dir_, rec().first_contact + static_cast<uint32_t>(k)}; }
    size_t action_count() const { return rec().actions; }
    // The partner's account manager: e-mail and/or mobile of one person.
    template <class F>
    void for_each_account_manager(F&& f) const {
      if (rec().am_email) f(RecipientView{ContactKind::email, dir_->str(rec().am_email), dir_->str(rec().am_name)});
      if (rec().am_mobile) f(RecipientView{ContactKind::mobile, dir_->str(rec().am_mobile), dir_->str(rec().am_name)});
    }
    // Calls f(ActionView) for each action on `type`, in contact order.
    template <class F>
    void for_each_action(std::string_view type, F&& f) const {
      const ActionRec* a = dir_->actions_.data() + rec().first_action;
      for (uint32_t k = 0; k < rec().actions; ++k)
        if (dir_->str(a[k].type) == type) f(ActionView{dir_, rec().first_action + k});
    }
    // The partner in the admin API's shape (what a PUT takes).
    boost::json::object to_json() const;

   private:
    friend class PartnerDirectory;
    friend class PartnerCatalog;
    friend class ActionView;
    friend class ContactView;
    PartnerView(const PartnerDirectory* d, uint32_t i) : dir_(d), i_(i) {}
    const PartnerRec& rec() const { return dir_->slots_[i_]; }
    const PartnerDirectory* dir_ = nullptr;
    uint32_t i_ = 0;
  };

  // A template some action sends and the contact kinds it goes to, with where
  // it is first used: what to check once templates are known.
  struct TemplateUse {
    std::string template_id;
    uint8_t kinds = 0;         // bit per ContactKind
    std::string where[kContactKindCount];  // per kind: "file:line:col: partner[0]...template"
  };

  // Adds partners one at a time; build() packs and indexes them.
  //
  // The strings, contacts and actions gather in 1 MiB chunks of pages
  // (PageAllocator) and are copied into the directory's exact-size arrays by
  // build(), each chunk unmapped once copied. Grown as vectors that double,
  // each array held its old and its new copy at once, up to twice its size
  // after, and the freed copies stayed resident in the allocator for
  // seconds: loading 100k partners × 10 contacts peaked at 175–233 MB of
  // RSS for a 91 MB directory, past the 150 MB budget (now ~125 MB, with the
  // loader's purges of freed parse trees), and a SIGHUP reload beside the
  // old directory at 245–286 MB (now ~220).
  class Builder final {
   public:
    Builder();
    ~Builder();
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;
    // Adds `p`, defined in `file`; false when its (tenant, id) is already in.
    bool add(const Partner& p, std::string_view file,
             const std::function<std::string(size_t contact, size_t action)>& where);
    std::shared_ptr<const PartnerDirectory> build();

   private:
    // Appends in chunks of kChunkBytes (or more, for an item that big); an
    // item never straddles two. move_to() empties it into `out`.
    template <class T>
    class Chunked {
     public:
      static constexpr size_t kChunkBytes = size_t{1} << 20;
      size_t size() const { return size_; }
      // Room for `n` more items in one chunk; returns where they go.
      T* append(size_t n);
      // The item at index `i` (the builder reads partner ids back while
      // probing for duplicates).
      const T* at(size_t i) const;
      template <class Out>
      void move_to(Out& out);

     private:
      std::vector<std::vector<T, PageAllocator<T>>> chunks_;  // freed to the kernel once copied
      std::vector<size_t> starts_;  // index of each chunk's first item
      size_t size_ = 0;
    };

    Ref intern(std::string_view s);
    Ref store(std::string_view s);
    std::string_view str(Ref r) const;  // a stored string, before build()
    std::unique_ptr<PartnerDirectory> dir_;
    Chunked<char> pool_;
    Chunked<ContactRec> contacts_;
    Chunked<ActionRec> actions_;
    std::unordered_map<std::string, Ref> interned_;
    std::unordered_map<std::string, size_t> uses_;  // template id → index in dir_->uses_
  };

  PartnerDirectory();
  PartnerView find(std::string_view tenant, std::string_view id) const;
  size_t size() const { return count_; }
  size_t action_count() const { return actions_.size(); }
  // The partners sorted by (tenant, id).
  size_t sorted_count() const { return order_.size(); }
  PartnerView sorted(size_t k) const { return {this, order_[k]}; }
  // The first sorted position whose (tenant, id) is not less than the given.
  size_t lower_bound(std::string_view tenant, std::string_view id) const;
  const std::vector<TemplateUse>& template_uses() const { return uses_; }
  // Bytes held, for the resource gauges and the memory benchmark.
  size_t memory_bytes() const;

 private:
  std::string_view str(Ref r) const { return decode(pool_.data() + r); }
  // The length-prefixed string at `p`.
  static std::string_view decode(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    size_t len = u[0];
    if (len < 0x80) return {p + 1, len};
    len = (len & 0x7f) | (size_t{u[1]} << 7) | (size_t{u[2]} << 15);
    return {p + 3, len};
  }
  uint64_t hash(std::string_view tenant, std::string_view id) const;
  // Slot of (tenant, id): the one holding it, or the empty one to fill.
  // `str_of` reads a Ref: the pool's, or the builder's chunks before
  // build(); kPrefetch (lookups) starts loading a match's records.
  template <bool kPrefetch, class StrOf>
  size_t probe(std::string_view tenant, std::string_view id, uint64_t h, const StrOf& str_of) const;
  template <class StrOf>
  void grow(const StrOf& str_of);

  // The large arrays take their pages from the kernel: a catalog's shards
  // are built one after another, each while its file's parse tree is alive,
  // and from the allocator's arenas they ended up scattered among the freed
  // trees' pages (100 shards of 100k partners: 16 MB more resident than one
  // directory of the same bytes).
  template <class T>
  using PageVector = std::vector<T, PageAllocator<T>>;
  PageVector<char> pool_;  // Ref 0 is the empty string
  PageVector<ContactRec> contacts_;
  PageVector<ActionRec> actions_;
  std::vector<Expression> whens_;
  std::vector<std::string> files_;
  // Open addressing, linear probing: the partner records are the slots, so
  // a lookup's first cache miss already reads the record (id == 0: free).
  PageVector<PartnerRec> slots_;
  size_t count_ = 0;
  PageVector<uint32_t> order_;
  std::vector<TemplateUse> uses_;
  uint64_t seed_;
};

using PartnerView = PartnerDirectory::PartnerView;
using ContactView = PartnerDirectory::ContactView;
using ActionView = PartnerDirectory::ActionView;

}  // namespace herald
