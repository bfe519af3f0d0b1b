// Rules, actions with `when`, the rule index and the renderer together: the
// seed scenarios of the rules issue in unit form, plus every resource error
// that must keep the previous snapshot serving.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/config/toml_reader.hpp"
#include "core/match/rule_index.hpp"
#include "core/render/message_renderer.hpp"
#include "tests/unit/core/load_error.hpp"
#include "tests/unit/temp_dir.hpp"

namespace herald {
namespace {

const char* kResources = R"toml(
[[sender]]
id = "default"
address = "fakturacia@herald.example"
name = "Herald s.r.o."
reply_to = "podpora@herald.example"
signature_text = "Herald s.r.o., Bratislava"
signature_html = "<p>Herald s.r.o.</p>"

[[sender]]
id = "eshop"
address = "obchod@eshop.example"
name = "E-shop"

[[template]]
id = "layout"
partial = true
html = "<html><body>{{$body}}{{/body}}</body></html>"

[[template]]
id = "invoice-email"
subject = "Invoice {{document.number}}"
text = "Total {{document.total | money}}, due {{document.due_date | date}}."
html = "{{<layout}}{{$body}}<b>{{document.number}}</b> {{data.note}}{{/body}}{{/layout}}"
  [template.locale.sk-SK]
  subject = "Faktúra {{document.number}}"
  text = "Suma {{document.total | money}}, splatná {{document.due_date | date}}."
  [template.locale.cs]
  subject = "Faktura {{document.number}}"

[[template]]
id = "delivery-note"
subject = "Dodací list {{document.number}}"
text = "Dodací list {{document.number}}.\n{{>signature}}\nĎakujeme."

[[template]]
id = "order-sms"
channel = "sms"
sms = "Objednavka {{document.number}} je pripravena."

[[template]]
id = "case-status"
sender = "eshop"
subject = "Reklamácia {{document.number}}: {{document.status}}"
text = "Stav: {{document.status}}"

[[template]]
id = "internal"
subject = "{{type}} {{document.number}}"
text = "{{partner.name}}: {{document.status}}"

[[group]]
id = "warehouse"
name = "Externý sklad"
  [[group.members]]
  kind = "email"
  value = "sklad@logistika.example"
  name = "Sklad Senec"
  [[group.members]]
  kind = "mobile"
  value = "+421900000001"

[[rule]]
id = "case-status-to-customer"
on = "case.status_changed"
when = 'document.status not in ["Přijata", "Nedořešená"]'
to = ["partner"]
template = "case-status"

[[rule]]
id = "warehouse-on-order-status"
on = "customer_order.*"
when = 'type == "customer_order.status_changed"'
to = ["group:warehouse", "account_manager"]
template = "internal"

[[rule]]
id = "big-invoices"
tenant = "default"
on = "*.posted"
when = "document.total >= 10000"
to = ["partner.contacts(kind=\"email\", label=\"accounting\")", "ops@herald.example"]
template = "internal"
delay = "2h"

[[partner]]
id = "P-1001"
name = "Stavebniny Kováč s.r.o."
locale = "sk-SK"
account_manager = { name = "Petra Malá", email = "petra@herald.example" }
  [[partner.contacts]]
  id = "sales"
  kind = "email"
  value = "predaj@kovac.example"
  label = "sales"
  name = "Ján Kováč"
    [[partner.contacts.actions]]
    on = "invoice.posted"
    template = "invoice-email"
    attach = true
  [[partner.contacts]]
  id = "accounting"
  kind = "email"
  value = "uctovnictvo@kovac.example"
  label = "accounting"
  locale = "cs-CZ"
    [[partner.contacts.actions]]
    on = "invoice.posted"
    when = "document.total > 1000"
    template = "invoice-email"
  [[partner.contacts]]
  id = "warehouse"
  kind = "email"
  value = "sklad@kovac.example"
    [[partner.contacts.actions]]
    on = "stock_document.posted"
    template = "delivery-note"
  [[partner.contacts]]
  id = "mobile"
  kind = "mobile"
  value = "+421 900 123 456"
    [[partner.contacts.actions]]
    on = "customer_order.realized"
    template = "order-sms"
)toml";

class RulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("resources.toml", kResources);
    snap_ = std::make_unique<ResourceSnapshot>(load_resources(dir_.path()), 1);
  }

  static std::shared_ptr<DocumentEvent> event(std::string type, std::string total = "1249.90") {
    auto e = std::make_shared<DocumentEvent>();
    e->id = "e-" + type;
    e->type = std::move(type);
    e->occurred_at = "2026-11-20T09:14:03+01:00";
    e->partner = Party{"P-1001", "", "zakaznik@example.com", "", ""};
    e->document = Document{};
    e->document->number = "FV-2026-0042";
    e->document->total = std::move(total);
    e->document->currency = "EUR";
    e->document->due_date = "2026-12-04";
    e->data = R"({"note":"<script>x</script>"})";
    return e;
  }

  std::vector<RenderedMessage> run(const std::shared_ptr<DocumentEvent>& e) {
    EventContext ctx(*e);
    std::vector<MatchedAction> matches;
    snap_->index.match(*e, ctx, matches);
    std::vector<RenderedMessage> out;
    for (const auto& m : matches) out.push_back(renderer_.render(e, m, snap_->resources, ctx));
    return out;
  }

  static const RenderedMessage& to(const std::vector<RenderedMessage>& msgs, std::string_view addr) {
    auto it = std::find_if(msgs.begin(), msgs.end(), [&](const auto& m) { return m.to[0].address == addr; });
    if (it == msgs.end()) throw std::runtime_error("no message to " + std::string(addr));
    return *it;
  }

  TempDir dir_;
  std::unique_ptr<ResourceSnapshot> snap_;
  MessageRenderer renderer_{Mailbox{"noreply@herald.example", ""}};
};

const std::string kNb = "\xC2\xA0";

TEST_F(RulesTest, InvoiceGoesToSalesAndAccountingInTheirLocales) {
  auto msgs = run(event("invoice.posted"));
  ASSERT_EQ(msgs.size(), 2u);
  const auto& sales = to(msgs, "predaj@kovac.example");
  EXPECT_EQ(sales.locale, "sk-SK");  // the partner's
  EXPECT_EQ(sales.subject, "Faktúra FV-2026-0042");
  EXPECT_EQ(sales.text, "Suma 1" + kNb + "249,90" + kNb + "€, splatná 4. 12. 2026.\n-- \nHerald s.r.o., Bratislava\n");
  // The HTML part comes from the default variant, through the layout, escaped.
  EXPECT_EQ(sales.html,
            "<html><body><b>FV-2026-0042</b> &lt;script&gt;x&lt;/script&gt;<p>Herald s.r.o.</p></body></html>");
  EXPECT_TRUE(sales.attach);
  EXPECT_EQ(sales.from.address, "fakturacia@herald.example");
  ASSERT_TRUE(sales.reply_to);
  EXPECT_EQ(sales.reply_to->address, "podpora@herald.example");
  const auto& accounting = to(msgs, "uctovnictvo@kovac.example");
  EXPECT_EQ(accounting.locale, "cs-CZ");                       // the contact's own
  EXPECT_EQ(accounting.subject, "Faktura FV-2026-0042");       // the "cs" variant by language
  EXPECT_EQ(accounting.text, "Total 1" + kNb + "249,90" + kNb + "€, due 4. 12. 2026.\n-- \nHerald s.r.o., Bratislava\n");
  EXPECT_NE(sales.message_id, accounting.message_id);
  EXPECT_EQ(sales.message_id, run(event("invoice.posted"))[0].message_id);  // stable
}

TEST_F(RulesTest, ActionWhenFiltersAndRuleGlobsWithDelayAndRecipients) {
  auto small = run(event("invoice.posted", "999.99"));
  ASSERT_EQ(small.size(), 1u);  // accounting's `when` is false
  EXPECT_EQ(small[0].to[0].address, "predaj@kovac.example");

  auto big = run(event("invoice.posted", "12000"));
  // sales + accounting (action) + accounting and ops (rule "*.posted").
  ASSERT_EQ(big.size(), 4u);
  const auto& ops = to(big, "ops@herald.example");
  EXPECT_EQ(ops.rule_id, "big-invoices");
  EXPECT_EQ(ops.delay, std::chrono::hours(2));
  EXPECT_EQ(ops.template_id, "internal");
  // The partner's name comes from resources; the "default" sender signs it.
  EXPECT_EQ(ops.text, "Stavebniny Kováč s.r.o.: \n-- \nHerald s.r.o., Bratislava\n");
  size_t accounting = std::count_if(big.begin(), big.end(),
                                    [](const auto& m) { return m.to[0].address == "uctovnictvo@kovac.example"; });
  EXPECT_EQ(accounting, 2u);  // the action's and the rule's: different templates, different ids
}

TEST_F(RulesTest, StockDocumentPlacesTheSignatureWhereTheTemplateSays) {
  auto msgs = run(event("stock_document.posted"));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].to[0].address, "sklad@kovac.example");
  EXPECT_EQ(msgs[0].text, "Dodací list FV-2026-0042.\nHerald s.r.o., Bratislava\nĎakujeme.");
}

TEST_F(RulesTest, OrderRealizedSendsAnSmsToTheMobile) {
  auto msgs = run(event("customer_order.realized"));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].channel, "sms");
  EXPECT_EQ(msgs[0].to[0].address, "+421 900 123 456");
  EXPECT_EQ(msgs[0].text, "Objednavka FV-2026-0042 je pripravena.");
}

TEST_F(RulesTest, OrderStatusNotifiesTheGroupAndTheAccountManagerByEmailOnly) {
  auto msgs = run(event("customer_order.status_changed"));
  ASSERT_EQ(msgs.size(), 2u);  // the group's mobile member cannot get an e-mail
  EXPECT_EQ(to(msgs, "sklad@logistika.example").to[0].name, "Sklad Senec");
  EXPECT_EQ(to(msgs, "petra@herald.example").to[0].name, "Petra Malá");
  EXPECT_TRUE(run(event("customer_order.created")).empty());  // glob matches, `when` does not
}

TEST_F(RulesTest, CaseStatusEmailsTheCustomerUnlessStatusIsExcluded) {
  auto e = event("case.status_changed");
  e->document->status = "Vyriešená";
  e->document->number = "RMA-7\r\nBcc: x@evil.example";
  auto msgs = run(e);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].to[0].address, "zakaznik@example.com");
  EXPECT_EQ(msgs[0].from.address, "obchod@eshop.example");  // the template's sender
  EXPECT_EQ(msgs[0].subject, "Reklamácia RMA-7  Bcc: x@evil.example: Vyriešená");  // no header injection
  for (const char* status : {"Přijata", "Nedořešená"}) {
    e->document->status = status;
    EXPECT_TRUE(run(e).empty()) << status;
  }
}

TEST(GlobMatch, Patterns) {
  EXPECT_TRUE(glob_match("*", "invoice.posted"));
  EXPECT_TRUE(glob_match("case.*", "case.status_changed"));
  EXPECT_FALSE(glob_match("case.*", "casework.x"));
  EXPECT_TRUE(glob_match("*.posted", "stock_document.posted"));
  EXPECT_TRUE(glob_match("a*b*c", "a.x.b.y.c"));
  EXPECT_FALSE(glob_match("a*b*c", "a.x.b.y"));
  EXPECT_TRUE(glob_match("invoice.posted", "invoice.posted"));
}

std::string load_error(const std::string& extra) {
  return resource_load_error({{"a.toml", kResources}, {"b.toml", extra}});
}

TEST(ResourceErrors, EveryBadResourceIsNamedWithItsField) {
  struct Case {
    std::string toml, expect;
  } cases[] = {
      {"[[rule]]\nid='r'\non='x.y'\nto=['partner']\ntemplate='internal'\nwhen='document.total >'\n",
       "rule[0].when: column 17: expected a value"},
      {"[[rule]]\nid='r'\non='x.y'\nto=['group:nope']\ntemplate='internal'\n", "no group with id \"nope\""},
      {"[[rule]]\nid='r'\non='x.y'\nto=['group:warehouse']\ntemplate='order-sms'\n", ""},  // the mobile member fits
      {"[[rule]]\nid='r'\non='x.y'\nto=['+421 2 1234']\ntemplate='internal'\n", "cannot receive email messages"},
      {"[[rule]]\nid='r'\non='x.y'\nto=['partner.contacts(kind=\"landline\")']\ntemplate='internal'\n",
       "a landline contact cannot receive email"},
      {"[[rule]]\nid='r'\non='x.y'\nto=['partner.contacts(colour=\"red\")']\ntemplate='internal'\n",
       "unknown filter \"colour\""},
      {"[[rule]]\nid='r'\non='x.y'\nto=['partner']\ntemplate='layout'\n", "is a partial and cannot be sent"},
      {"[[rule]]\nid='r'\non='x.y'\nto=['partner']\ntemplate='internal'\ndelay='soon'\n", "rule[0].delay"},
      {"[[rule]]\nid='r'\non='X Y'\nto=['partner']\ntemplate='internal'\n", "rule[0].on"},
      {"[[rule]]\nid='r'\non='x.y'\nto=[]\ntemplate='internal'\n", "at least one recipient"},
      {"[[rule]]\nid='r'\non='x.y'\nto=['partner']\ntemplate='internal'\nsender='ghost'\n", "no sender with id"},
      {"[[rule]]\nid='big-invoices'\non='x.y'\nto=['partner']\ntemplate='internal'\n", "duplicate rule id"},
      {"[[template]]\nid='t'\nsubject='s'\ntext='{{>nowhere}}'\n", "text: unknown partial \"nowhere\""},
      {"[[template]]\nid='t1'\nsubject='s'\ntext='{{>t2}}'\n[[template]]\nid='t2'\nsubject='s'\ntext='{{>t1}}'\n",
       "partials form a cycle: t1 → t2 → t1"},
      {"[[template]]\nid='signature'\nsubject='s'\ntext='x'\n", "reserved"},
      {"[[template]]\nid='t'\nsubject='s'\ntext='x'\n[template.locale.xx_123]\ntext='y'\n", "not a valid locale"},
      {"[[template]]\nid='t'\nsubject='s'\n", "needs text, html or both"},
      {"[[template]]\nid='t'\nsubject='s'\ntext='x'\nsender='ghost'\n", "no sender with id \"ghost\""},
      {"[[template]]\nid='t'\nsubject='{{x | cash}}'\ntext='x'\n", "template[0].subject: template error at line 1"},
      {"[[sender]]\nid='s'\naddress='not an address'\n", "sender[0].address: not a valid e-mail"},
      {"[[sender]]\nid='s'\naddress='a@b.example'\nsignature_text='{{>x}}'\n", "cannot include partials"},
      {"[[group]]\nid='g'\n", "at least one member"},
      {"[[group]]\nid='g'\n[[group.members]]\nkind='email'\nvalue='nope'\n", "group[0].members[0].value"},
      {"[[partner]]\nid='P'\naccount_manager={name='x'}\n", "needs an email or a mobile"},
      {"[[partner]]\nid='P'\n[[partner.contacts]]\nid='c'\nkind='email'\nvalue='a@b.example'\n"
       "[[partner.contacts.actions]]\non='x.y'\ntemplate='internal'\nwhen='not'\n",
       "actions[0].when: column 4"},
  };
  for (const auto& c : cases) {
    std::string err = load_error(c.toml);
    if (c.expect.empty()) {
      EXPECT_EQ(err, "") << c.toml;
    } else {
      EXPECT_NE(err.find(c.expect), std::string::npos) << c.toml << "\n→ " << err;
    }
  }
}

}  // namespace
}  // namespace herald
