#include "core/delivery/dispatcher.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <set>

#include "tests/fakes/fake_transport.hpp"

namespace herald {
namespace {

namespace net = boost::asio;

std::shared_ptr<RenderedMessage> message(std::string id) {
  auto m = std::make_shared<RenderedMessage>();
  m->message_id = std::move(id);
  m->channel = "email";
  m->to.push_back({"a@b.example", ""});
  m->created_at = std::chrono::system_clock::now();
  return m;
}

struct DispatcherFixture : ::testing::Test {
  DispatcherFixture() {
    settings.retry.max_attempts = 3;
    settings.retry.initial = std::chrono::milliseconds(1);
    settings.retry.max = std::chrono::milliseconds(4);
    settings.batch_size = 8;
    rebuild();
  }

  // (Re)creates the dispatcher after a test changed settings or guard.
  void rebuild(size_t lanes = 1) {
    auto t = std::make_unique<FakeTransport>();
    t->lane_count = lanes;
    transport = t.get();
    dispatcher = std::make_unique<Dispatcher>(ioc.get_executor(), std::move(t), settings, guard, history, ledger,
                                              metrics, log, [] { return 0.5; });
  }

  // Submits the messages, waits `settle`, drains, and runs to completion.
  void run(std::vector<std::shared_ptr<RenderedMessage>> msgs, std::chrono::milliseconds settle) {
    dispatcher->start();
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          for (auto& m : msgs) co_await dispatcher->submit(m);
          net::steady_timer t(ioc, settle);
          co_await t.async_wait(net::use_awaitable);
          co_await dispatcher->drain();
        },
        net::detached);
    ioc.run();
  }

  std::vector<std::string> statuses(const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& r : history.records)
      if (r.message_id == id) out.push_back(r.status);
    return out;
  }

  net::io_context ioc;
  DeliverySettings settings;
  RelayGuardSettings guard;
  MemoryHistoryLog history;
  MemoryLedger ledger;
  MetricsRegistry metrics;
  std::FILE* devnull = std::fopen("/dev/null", "w");
  Logger log{devnull};
  FakeTransport* transport = nullptr;
  std::unique_ptr<Dispatcher> dispatcher;
  ~DispatcherFixture() override {
    dispatcher.reset();
    std::fclose(devnull);
  }
};

TEST_F(DispatcherFixture, DeliversAndRecordsEachMessage) {
  run({message("m1"), message("m2"), message("m3")}, std::chrono::milliseconds(20));
  EXPECT_EQ(transport->attempts.size(), 3u);
  EXPECT_EQ(statuses("m1"), std::vector<std::string>{"delivered"});
  EXPECT_TRUE(transport->shut_down);
  EXPECT_NE(metrics.render().find("herald_messages_sent_total{transport=\"fake\",status=\"delivered\"} 3"),
            std::string::npos);
}

TEST_F(DispatcherFixture, TrySubmitQueuesWhileThereIsRoomAndLeavesTheMessageWhenFull) {
  settings.queue_capacity = 2;
  rebuild();
  // Not started: nothing takes from the queue, so it fills.
  auto m1 = message("m1"), m2 = message("m2"), m3 = message("m3");
  EXPECT_TRUE(dispatcher->try_submit(m1));
  EXPECT_TRUE(dispatcher->try_submit(m2));
  EXPECT_EQ(m1, nullptr);  // moved into the queue
  EXPECT_FALSE(dispatcher->try_submit(m3));
  ASSERT_NE(m3, nullptr);  // still the caller's, for submit()
  EXPECT_EQ(m3->message_id, "m3");
  EXPECT_NE(metrics.render().find("herald_queue_depth{stage=\"deliver:fake\"} 2"), std::string::npos);
  // submit() waits for room; all three are delivered.
  run({m3}, std::chrono::milliseconds(20));
  EXPECT_EQ(transport->attempts.size(), 3u);
  EXPECT_EQ(statuses("m3"), std::vector<std::string>{"delivered"});
}

TEST_F(DispatcherFixture, RetriesTransientFailuresThenDelivers) {
  transport->scripts["m1"] = {{DeliveryStatus::transient_failure, "451 try later"},
                              {DeliveryStatus::transient_failure, "451 try later"}};
  run({message("m1")}, std::chrono::milliseconds(100));
  EXPECT_EQ(transport->attempts.size(), 3u);
  EXPECT_EQ(statuses("m1"), (std::vector<std::string>{"deferred", "deferred", "delivered"}));
  EXPECT_EQ(history.records.back().attempt, 3);
}

TEST_F(DispatcherFixture, PermanentFailuresAreNotRetried) {
  transport->scripts["m1"] = {{DeliveryStatus::permanent_failure, "550 no such user"}};
  run({message("m1")}, std::chrono::milliseconds(30));
  EXPECT_EQ(transport->attempts.size(), 1u);
  EXPECT_EQ(statuses("m1"), std::vector<std::string>{"failed"});
  EXPECT_EQ(history.records.back().error, "550 no such user");
}

TEST_F(DispatcherFixture, GivesUpAfterMaxAttempts) {
  DeliveryOutcome soft{DeliveryStatus::transient_failure, "421 busy"};
  transport->scripts["m1"] = {soft, soft, soft, soft};
  run({message("m1")}, std::chrono::milliseconds(100));
  EXPECT_EQ(transport->attempts.size(), 3u);
  EXPECT_EQ(statuses("m1"), (std::vector<std::string>{"deferred", "deferred", "expired"}));
  EXPECT_NE(history.records.back().error.find("gave up after 3 attempts"), std::string::npos);
}

TEST_F(DispatcherFixture, DrainDeliversEverythingQueued) {
  std::vector<std::shared_ptr<RenderedMessage>> msgs;
  for (int i = 0; i < 100; ++i) msgs.push_back(message("m" + std::to_string(i)));
  run(msgs, std::chrono::milliseconds(0));
  EXPECT_EQ(transport->attempts.size(), 100u);
  size_t delivered = 0;
  for (const auto& r : history.records) delivered += r.status == "delivered";
  EXPECT_EQ(delivered, 100u);
  for (size_t b : transport->batches) EXPECT_LE(b, settings.batch_size);
}

TEST_F(DispatcherFixture, PendingRetriesAreRecordedWhenDrainAbandonsThem) {
  settings.retry.initial = std::chrono::milliseconds(60'000);
  settings.retry.max = std::chrono::milliseconds(60'000);
  rebuild();
  transport->scripts["m1"] = {{DeliveryStatus::transient_failure, "451 later"}};
  run({message("m1")}, std::chrono::milliseconds(20));
  EXPECT_EQ(transport->attempts.size(), 1u);
  EXPECT_EQ(statuses("m1"), (std::vector<std::string>{"deferred", "deferred"}));
  EXPECT_NE(history.records.back().error.find("shutting down"), std::string::npos);
}

TEST_F(DispatcherFixture, EveryLaneWorksAndShutdownHappensOnce) {
  rebuild(4);
  std::vector<std::shared_ptr<RenderedMessage>> msgs;
  for (int i = 0; i < 200; ++i) msgs.push_back(message("m" + std::to_string(i)));
  run(msgs, std::chrono::milliseconds(0));
  EXPECT_EQ(transport->attempts.size(), 200u);
  std::set<size_t> lanes(transport->lanes_used.begin(), transport->lanes_used.end());
  for (size_t l : lanes) EXPECT_LT(l, 4u);
  EXPECT_TRUE(transport->shut_down);
}

TEST_F(DispatcherFixture, OpenBreakerParksMessagesWithoutSpendingAttempts) {
  guard.breaker_failures = 2;
  guard.breaker_open = std::chrono::milliseconds(30);
  settings.retry.max_attempts = 3;
  rebuild();
  DeliveryOutcome down{DeliveryStatus::transient_failure, "connect: refused", RelaySignal::fault};
  for (int i = 0; i < 3; ++i) transport->scripts["m" + std::to_string(i)] = {down, down};
  run({message("m0"), message("m1"), message("m2")}, std::chrono::milliseconds(400));
  // Two faults opened the breaker; the rest waited for the probe instead of
  // burning attempts, then everything was delivered.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(statuses("m" + std::to_string(i)).back(), "delivered");
  EXPECT_GT(metrics.counter("herald_breaker_parked_total", "", {{"transport", "fake"}}).value(), 0u);
  for (const auto& r : history.records) EXPECT_LE(r.attempt, 3);
  EXPECT_EQ(dispatcher->breaker().state(), CircuitBreaker::State::closed);
}

TEST_F(DispatcherFixture, ThrottleOpensTheBreakerAtOnce) {
  guard.breaker_failures = 100;
  guard.breaker_open = std::chrono::milliseconds(60'000);
  rebuild();
  transport->scripts["m1"] = {{DeliveryStatus::transient_failure, "421 slow down", RelaySignal::throttle}};
  run({message("m1")}, std::chrono::milliseconds(20));
  EXPECT_EQ(dispatcher->breaker().state(), CircuitBreaker::State::open);
}

TEST_F(DispatcherFixture, MessagesOlderThanTheTtlExpire) {
  settings.retry.ttl = std::chrono::seconds(60);
  settings.retry.max_attempts = 100;
  rebuild();
  auto old = message("m1");
  old->created_at -= std::chrono::minutes(5);
  transport->scripts["m1"] = {{DeliveryStatus::transient_failure, "451 later"}};
  run({old}, std::chrono::milliseconds(20));
  EXPECT_EQ(statuses("m1"), std::vector<std::string>{"expired"});
  EXPECT_NE(history.records.back().error.find("expired after 1 attempts"), std::string::npos);
}

TEST_F(DispatcherFixture, OnlyDeferredRecipientsAreRetried) {
  auto m = message("m1");
  m->to = {{"ok@b.example", ""}, {"busy@b.example", ""}, {"gone@b.example", ""}};
  DeliveryOutcome partial{DeliveryStatus::transient_failure, "250 ok; <busy@b.example> 450 busy"};
  partial.recipients = {{"ok@b.example", DeliveryStatus::delivered, "250"},
                        {"busy@b.example", DeliveryStatus::transient_failure, "450"},
                        {"gone@b.example", DeliveryStatus::permanent_failure, "550"}};
  transport->scripts["m1"] = {partial};
  run({m}, std::chrono::milliseconds(50));
  EXPECT_EQ(statuses("m1"), (std::vector<std::string>{"deferred", "delivered"}));
  ASSERT_EQ(m->to.size(), 1u);
  EXPECT_EQ(m->to[0].address, "busy@b.example");
}

TEST_F(DispatcherFixture, RateLimitSpacesBatches) {
  guard.max_messages_per_second = 200;  // burst 20
  rebuild();
  std::vector<std::shared_ptr<RenderedMessage>> msgs;
  for (int i = 0; i < 60; ++i) msgs.push_back(message("m" + std::to_string(i)));
  auto start = std::chrono::steady_clock::now();
  run(msgs, std::chrono::milliseconds(0));
  // 60 messages at 200/s with 20 banked: at least ~200 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(180));
  EXPECT_EQ(transport->attempts.size(), 60u);
  for (size_t b : transport->batches) EXPECT_LE(b, 20u);
}

TEST(CircuitBreakerTest, OpensHalfOpensAndCloses) {
  using namespace std::chrono_literals;
  CircuitBreaker b(3, 100ms);
  auto t = CircuitBreaker::Clock::now();
  b.on_fault(t);
  b.on_fault(t);
  EXPECT_EQ(b.admit(t), CircuitBreaker::Admit::yes);
  b.on_success();  // a success resets the count
  b.on_fault(t);
  b.on_fault(t);
  b.on_fault(t);
  EXPECT_EQ(b.state(), CircuitBreaker::State::open);
  EXPECT_EQ(b.admit(t + 50ms), CircuitBreaker::Admit::no);
  EXPECT_EQ(b.admit(t + 100ms), CircuitBreaker::Admit::probe);
  EXPECT_EQ(b.admit(t + 101ms), CircuitBreaker::Admit::no);  // one probe at a time
  b.on_fault(t + 110ms);                                      // probe failed: open again
  EXPECT_EQ(b.state(), CircuitBreaker::State::open);
  EXPECT_EQ(b.admit(t + 150ms), CircuitBreaker::Admit::no);
  EXPECT_EQ(b.admit(t + 210ms), CircuitBreaker::Admit::probe);
  b.on_success();
  EXPECT_EQ(b.state(), CircuitBreaker::State::closed);
  b.on_throttle(t + 300ms);
  EXPECT_EQ(b.state(), CircuitBreaker::State::open);
}

TEST(TokenBucketTest, ReservesAndReportsTheWait) {
  using namespace std::chrono_literals;
  auto t = TokenBucket::Clock::now();
  TokenBucket unlimited(0, 0, t);
  EXPECT_EQ(unlimited.reserve(1e6, t).count(), 0);
  TokenBucket b(100, 10, t);  // 100/s, 10 banked
  EXPECT_EQ(b.reserve(10, t).count(), 0);
  EXPECT_NEAR(std::chrono::duration<double>(b.reserve(5, t)).count(), 0.05, 1e-6);
  EXPECT_NEAR(std::chrono::duration<double>(b.reserve(5, t)).count(), 0.10, 1e-6);  // queued behind
  EXPECT_EQ(b.reserve(1, t + 1s).count(), 0);  // refilled, capped at the burst
}

TEST(RetryPolicyTest, BacksOffExponentiallyWithinBounds) {
  RetrySettings s;
  s.max_attempts = 5;
  s.initial = std::chrono::milliseconds(1000);
  s.max = std::chrono::milliseconds(8000);
  RetryPolicy low(s, [] { return 0.0; });
  RetryPolicy high(s, [] { return 0.999999; });
  EXPECT_EQ(low.delay(1).count(), 500);
  EXPECT_EQ(high.delay(1).count(), 999);
  EXPECT_EQ(high.delay(2).count(), 1999);
  EXPECT_EQ(high.delay(3).count(), 3999);
  EXPECT_EQ(high.delay(10).count(), 7999);  // capped
  EXPECT_EQ(high.delay(1000).count(), 7999);
  EXPECT_FALSE(low.exhausted(4));
  EXPECT_TRUE(low.exhausted(5));
}

}  // namespace
}  // namespace herald
