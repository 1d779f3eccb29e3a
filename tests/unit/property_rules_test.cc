// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Every validation rule a property or file addition has is the same
// through the library (Job's typed setters and SetProperty) and through the
// daemon's JSON-RPC (job.set, job.addFiles): one copy of each rule
// (engine/job_properties.h). Over RPC, dynamic content once skipped the
// ranged-files check; this test would have caught it.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <gtest/gtest.h>

#include "openbits/hresult.h"

#include "daemon/rpc.h"
#include "engine/engine.h"
#include "tests/support/test_support.h"

namespace openbits::daemon {
namespace {

using nlohmann::json;

// A job prepared before the rule is tried, the same way on both paths.
enum class Prepared { kNone, kRangedFile, kCustomMethod, kResumed };

struct Rule {
  const char* what;
  Prepared setup;
  const char* property;  // job.set's name
  json value;
  std::function<Status(Job&)> library;  // the same change through the library
  HResult expected;
};

class PropertyRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::mkdir((dir_ / "dest").c_str(), 0755);
    ManagerOptions options;
    options.state_directory = dir_ / "state";
    options.key_directory = dir_ / "keys";
    options.run_transfers = false;
    auto engine = engine::Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = *engine;
    rpc_ = std::make_unique<RpcDispatcher>(engine_);
  }
  void TearDown() override {
    rpc_.reset();
    engine_->Shutdown();
  }

  json Call(const std::string& method, const json& params) {
    bool shutdown = false;
    json request = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
    return json::parse(rpc_->Handle(request.dump(), user_, &shutdown), nullptr, false);
  }
  // The HRESULT of an RPC reply: 0 for a result, data.hresult for an error.
  static HResult CodeOf(const json& reply) {
    if (reply.contains("result")) return 0;
    if (!reply["error"].contains("data")) return kEUnexpectedRpcError;
    return static_cast<HResult>(reply["error"]["data"]["hresult"].get<std::uint32_t>());
  }
  static constexpr HResult kEUnexpectedRpcError = static_cast<HResult>(0x8000FFFF);

  // A new job set up as `setup` says; its id.
  std::string NewJob(Prepared setup) {
    const std::string id = Call("job.create", {{"name", "rules"}})["result"]["id"];
    const std::string local = dir_ / ("dest/f" + std::to_string(++files_));
    json file = {{"remote", "http://127.0.0.1:9/f"}, {"local", local}};
    json params = {{"id", id}, {"files", json::array({file})}};
    if (setup == Prepared::kRangedFile) {
      params["ranges"] = json::array({{{"offset", 0}, {"length", 10}}});
    }
    EXPECT_EQ(CodeOf(Call("job.addFiles", params)), 0);
    if (setup == Prepared::kCustomMethod) {
      EXPECT_EQ(
          CodeOf(Call("job.set", {{"id", id}, {"property", "httpMethod"}, {"value", "POST"}})), 0);
    }
    if (setup == Prepared::kResumed) {
      EXPECT_EQ(CodeOf(Call("job.resume", {{"id", id}})), 0);
    }
    return id;
  }
  // The library's handle of job `id`.
  std::shared_ptr<Job> Handle(const std::string& id) {
    auto guid = Guid::Parse(id);
    return engine_->Call([&]() -> std::shared_ptr<Job> {
      auto data = engine_->FindJob(user_, *guid);
      return data.ok() ? engine_->MakeJobHandle(*data) : nullptr;
    });
  }

  testing::TempDir dir_;
  std::shared_ptr<engine::Engine> engine_;
  std::unique_ptr<RpcDispatcher> rpc_;
  engine::Caller user_{"1001", false};
  int files_ = 0;
};

TEST_F(PropertyRulesTest, EveryPropertyRuleIsTheSameThroughTheLibraryAndTheDaemon) {
  const std::string long_name(257, 'n');
  const std::string long_description(1025, 'd');
  const std::vector<Rule> rules = {
      {"display name of 257 characters", Prepared::kNone, "displayName", long_name,
       [&](Job& j) { return j.SetDisplayName(long_name); }, kEInvalidArg},
      {"description of 1025 characters", Prepared::kNone, "description", long_description,
       [&](Job& j) { return j.SetDescription(long_description); }, kEInvalidArg},
      {"priority 4", Prepared::kNone, "priority", 4,
       [](Job& j) { return j.SetProperty(JobProperty::kPriority, std::uint32_t{4}); },
       kEInvalidArg},
      {"background priority with a custom method", Prepared::kCustomMethod, "priority", 2,
       [](Job& j) { return j.SetPriority(JobPriority::kNormal); },
       kBgENotSupportedWithCustomHttpMethod},
      {"an unknown notify flag", Prepared::kNone, "notifyFlags", 0x40,
       [](Job& j) { return j.SetNotifyFlags(0x40); }, kENotImpl},
      {"a relative notify program", Prepared::kNone, "notifyCmdLine",
       json{{"program", "bin/x"}, {"parameters", ""}},
       [](Job& j) { return j.SetNotifyCmdLine("bin/x", ""); }, kEInvalidArg},
      {"HEAD as the HTTP method", Prepared::kNone, "httpMethod", "HEAD",
       [](Job& j) { return j.SetHttpMethod("HEAD"); }, kEInvalidArg},
      {"a custom method after Resume", Prepared::kResumed, "httpMethod", "POST",
       [](Job& j) { return j.SetHttpMethod("POST"); }, kBgEReadOnlyPropertyAfterResume},
      {"a custom method on a ranged file", Prepared::kRangedFile, "httpMethod", "POST",
       [](Job& j) { return j.SetHttpMethod("POST"); }, kBgENotSupportedWithCustomHttpMethod},
      {"OVERRIDE without a proxy", Prepared::kNone, "proxySettings", json{{"usage", "OVERRIDE"}},
       [](Job& j) { return j.SetProxySettings(ProxyUsage::kOverride, "", ""); }, kEInvalidArg},
      {"a bypass list without OVERRIDE", Prepared::kNone, "proxySettings",
       json{{"usage", "NO_PROXY"}, {"bypass", "example.org"}},
       [](Job& j) { return j.SetProxySettings(ProxyUsage::kNoProxy, "", "example.org"); },
       kEInvalidArg},
      {"dynamic content on a ranged file", Prepared::kRangedFile, "dynamicContent", true,
       [](Job& j) { return j.SetDynamicContent(true); }, kEInvalidArg},
      {"dynamic content after Resume", Prepared::kResumed, "dynamicContent", true,
       [](Job& j) { return j.SetDynamicContent(true); }, kBgEReadOnlyPropertyAfterResume},
      {"no concurrent file", Prepared::kNone, "maxConcurrentFiles", 0,
       [](Job& j) { return j.SetMaximumConcurrentFiles(0); }, kEInvalidArg},
      {"17 concurrent files", Prepared::kNone, "maxConcurrentFiles", 17,
       [](Job& j) { return j.SetMaximumConcurrentFiles(17); }, kEInvalidArg},
      {"an unknown security flag", Prepared::kNone, "securityFlags", 0x4000,
       [](Job& j) { return j.SetSecurityFlags(0x4000); }, kENotImpl},
      {"two redirect policies at once", Prepared::kNone, "securityFlags", 0x0300,
       [](Job& j) { return j.SetSecurityFlags(0x0300); }, kEInvalidArg},
      {"a custom header line ending in LF only", Prepared::kNone, "customHeaders", "A: 1\nB: 2",
       [](Job& j) { return j.SetCustomHeaders("A: 1\nB: 2"); }, kEInvalidArg},
      {"a valid change", Prepared::kNone, "minRetryDelay", 60,
       [](Job& j) { return j.SetMinimumRetryDelay(60); }, 0},
  };
  for (const Rule& rule : rules) {
    const std::string over_rpc = NewJob(rule.setup);
    EXPECT_EQ(CodeOf(Call("job.set",
                          {{"id", over_rpc}, {"property", rule.property}, {"value", rule.value}})),
              rule.expected)
        << "over RPC: " << rule.what;
    auto handle = Handle(NewJob(rule.setup));
    ASSERT_TRUE(handle) << rule.what;
    EXPECT_EQ(rule.library(*handle).code(), rule.expected) << "in the library: " << rule.what;
  }
}

TEST_F(PropertyRulesTest, ARefusedValueChangesNothingOnEitherPath) {
  const std::string id = NewJob(Prepared::kRangedFile);
  EXPECT_NE(CodeOf(Call("job.set", {{"id", id}, {"property", "dynamicContent"}, {"value", true}})),
            0);
  auto handle = Handle(id);
  EXPECT_FALSE(handle->GetDynamicContent());
  EXPECT_FALSE(handle->SetDisplayName(std::string(300, 'x')).ok());
  EXPECT_EQ(handle->GetDisplayName(), "rules");
  auto value = handle->GetProperty(JobProperty::kDisplayName);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(std::get<std::string>(*value), "rules");
}

TEST_F(PropertyRulesTest, TheMinimumRetryDelayIsRaisedToFiveSecondsOnBothPaths) {
  const std::string id = NewJob(Prepared::kNone);
  EXPECT_EQ(CodeOf(Call("job.set", {{"id", id}, {"property", "minRetryDelay"}, {"value", 1}})), 0);
  auto handle = Handle(id);
  EXPECT_EQ(handle->GetMinimumRetryDelay(), 5u);
  ASSERT_TRUE(handle->SetMinimumRetryDelay(2).ok());
  EXPECT_EQ(handle->GetMinimumRetryDelay(), 5u);
}

TEST_F(PropertyRulesTest, RangesCannotBeAddedToADynamicContentJobOnEitherPath) {
  const std::string id = NewJob(Prepared::kNone);
  ASSERT_EQ(CodeOf(Call("job.set", {{"id", id}, {"property", "dynamicContent"}, {"value", true}})),
            0);
  json file = {{"remote", "http://127.0.0.1:9/r"}, {"local", dir_ / "dest/ranged"}};
  json reply = Call("job.addFiles", {{"id", id},
                                     {"files", json::array({file})},
                                     {"ranges", json::array({{{"offset", 0}, {"length", 5}}})}});
  EXPECT_EQ(CodeOf(reply), kEInvalidArg);
  auto handle = Handle(id);
  EXPECT_EQ(
      handle->AddFileWithRanges("http://127.0.0.1:9/r", dir_ / "dest/ranged2", {{0, 5}}).code(),
      kEInvalidArg);
  EXPECT_EQ(handle->EnumFiles().size(), 1u);
}

// A handle read the record off the engine thread while property changes
// move-assigned it there: a data race ThreadSanitizer reports. Now the id
// and type are copies and everything else is read on the engine thread.
TEST_F(PropertyRulesTest, HandlesReadWhileTheJobChangesWithoutARace) {
  auto handle = Handle(NewJob(Prepared::kNone));
  const Guid id = handle->GetId();
  std::thread reader([&] {
    for (int i = 0; i < 500; ++i) {
      EXPECT_EQ(handle->GetId(), id);
      EXPECT_EQ(handle->GetType(), JobType::kDownload);
      EXPECT_EQ(handle->GetOwner(), "1001");
    }
  });
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(handle->SetDisplayName("name " + std::to_string(i)).ok());
    ASSERT_TRUE(handle->SetProperty(JobProperty::kNoProgressTimeout, std::uint32_t(i)).ok());
  }
  reader.join();
  EXPECT_EQ(handle->GetDisplayName(), "name 499");
}

}  // namespace
}  // namespace openbits::daemon
