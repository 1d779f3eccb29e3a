// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The daemon's JSON-RPC layer against malformed and hostile input, and its
// per-user isolation, without a socket.

#include "daemon/rpc.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <gtest/gtest.h>

#include "openbits/hresult.h"

#include "tests/support/test_support.h"

namespace openbits::daemon {
namespace {

using nlohmann::json;

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  Result<std::shared_ptr<engine::Engine>> OpenEngine() {
    ManagerOptions options;
    options.state_directory = dir_ / "state";
    options.key_directory = dir_ / "keys";
    options.policy_file = dir_ / "openbits.conf";
    options.run_transfers = false;
    return engine::Engine::Open(options);
  }
  void Open() {
    auto engine = OpenEngine();
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = *engine;
    rpc_ = std::make_unique<RpcDispatcher>(engine_);
  }
  // Opens the queue again with `conf` as its openbits.conf.
  void ReopenWith(const std::string& conf) {
    rpc_.reset();
    engine_->Shutdown();
    std::ofstream(dir_ / "openbits.conf") << conf;
    Open();
  }
  // `count` files for `job`, into dir_/dest.
  json Files(int count, const std::string& prefix) {
    ::mkdir((dir_ / "dest").c_str(), 0755);
    json files = json::array();
    for (int i = 0; i < count; ++i) {
      files.push_back({{"remote", "http://127.0.0.1:9/" + prefix + std::to_string(i)},
                       {"local", dir_ / ("dest/" + prefix + std::to_string(i))}});
    }
    return files;
  }
  void TearDown() override {
    rpc_.reset();
    engine_->Shutdown();
  }

  json Send(const std::string& text, const engine::Caller& caller) {
    bool shutdown = false;
    const std::string reply = rpc_->Handle(text, caller, &shutdown);
    return json::parse(reply, nullptr, false);
  }
  json Call(const std::string& method, const json& params, const engine::Caller& caller) {
    return Send(json{{"jsonrpc", "2.0"}, {"id", 7}, {"method", method}, {"params", params}}.dump(),
                caller);
  }

  testing::TempDir dir_;
  std::shared_ptr<engine::Engine> engine_;
  std::unique_ptr<RpcDispatcher> rpc_;
  engine::Caller alice_{"1001", false};
  engine::Caller bob_{"1002", false};
  engine::Caller root_{"0", true};
};

TEST_F(RpcTest, MalformedRequestsGetJsonRpcErrors) {
  EXPECT_EQ(Send("not json", alice_)["error"]["code"], -32700);
  EXPECT_EQ(Send("[1,2,3]", alice_)["error"]["code"], -32600);
  EXPECT_EQ(Send(R"({"jsonrpc":"1.0","id":1,"method":"job.list"})", alice_)["error"]["code"],
            -32600);
  EXPECT_EQ(Send(R"({"jsonrpc":"2.0","id":1,"method":5})", alice_)["error"]["code"], -32600);
  // Found by fuzz_rpc: a member of the wrong type must not throw.
  EXPECT_EQ(Send(R"({"jsonrpc":2,"id":1,"method":"job.list"})", alice_)["error"]["code"], -32600);
  EXPECT_EQ(Send(R"({"jsonrpc":null,"method":"x"})", alice_)["error"]["code"], -32600);
  EXPECT_EQ(
      Send(R"({"jsonrpc":"2.0","id":1,"method":"job.list","params":[1]})", alice_)["error"]["code"],
      -32600);
  EXPECT_EQ(Call("no.such.method", json::object(), alice_)["error"]["code"], -32601);
  EXPECT_EQ(Call("job.create", {{"name", 42}}, alice_)["error"]["code"], -32602);
  EXPECT_EQ(Call("job.info", {{"id", "not-a-guid"}}, alice_)["error"]["code"], -32602);
  EXPECT_EQ(Call("job.addFiles", {{"id", Guid::Generate().ToString()}, {"files", "x"}},
                 alice_)["error"]["code"],
            -32602);
  const std::string id = Call("job.create", {{"name", "x"}}, alice_)["result"]["id"];
  EXPECT_EQ(Call("job.set", {{"id", id}, {"property", "priority"}, {"value", -1}},
                 alice_)["error"]["code"],
            -32602);
  EXPECT_EQ(Call("job.set", {{"id", id}, {"property", "noProgressTimeout"}, {"value", 1e12}},
                 alice_)["error"]["code"],
            -32602);
  // A notification (no id) gets no reply at all.
  bool shutdown = false;
  EXPECT_EQ(rpc_->Handle(R"({"jsonrpc":"2.0","method":"job.list"})", alice_, &shutdown), "");
}

TEST_F(RpcTest, BitsErrorsCarryTheirHresult) {
  json reply = Call("job.resume", {{"id", Guid::Generate().ToString()}}, alice_);
  EXPECT_EQ(reply["error"]["code"], -32000);
  EXPECT_EQ(reply["error"]["data"]["hresult"], 0x80200001u);
  EXPECT_EQ(reply["error"]["data"]["name"], "BG_E_NOT_FOUND");
  const std::string id = Call("job.create", {{"name", "empty"}}, alice_)["result"]["id"];
  reply = Call("job.resume", {{"id", id}}, alice_);
  EXPECT_EQ(reply["error"]["data"]["hresult"], 0x80200003u);  // BG_E_EMPTY
  EXPECT_EQ(reply["id"], 7);
}

TEST_F(RpcTest, MaxFilesPerJobLimitsUsersButNotAdministrators) {
  ReopenWith("[policy]\nMaxFilesPerJob = 2\n");
  const std::string id = Call("job.create", {{"name", "limited"}}, alice_)["result"]["id"];
  EXPECT_TRUE(
      Call("job.addFiles", {{"id", id}, {"files", Files(2, "a")}}, alice_).contains("result"));
  json over = Call("job.addFiles", {{"id", id}, {"files", Files(1, "b")}}, alice_);
  EXPECT_EQ(over["error"]["data"]["hresult"], 0x80200051u);  // BG_E_TOO_MANY_FILES_IN_JOB
  EXPECT_EQ(Call("job.info", {{"id", id}}, alice_)["result"]["files"].size(), 2u);
  json many =
      Call("job.createMany", {{"jobs", {{{"name", "big"}, {"files", Files(3, "c")}}}}}, alice_);
  EXPECT_EQ(many["error"]["data"]["hresult"], 0x80200051u);
  const std::string admins = Call("job.create", {{"name", "root's"}}, root_)["result"]["id"];
  EXPECT_TRUE(
      Call("job.addFiles", {{"id", admins}, {"files", Files(3, "d")}}, root_).contains("result"));
}

TEST_F(RpcTest, AMalformedFileLimitKeepsTheQueueClosed) {
  rpc_.reset();
  engine_->Shutdown();
  std::ofstream(dir_ / "openbits.conf") << "[policy]\nMaxFilesPerJob = many\n";
  auto engine = OpenEngine();
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), kEInvalidArg);
  EXPECT_NE(engine.status().message().find("MaxFilesPerJob"), std::string::npos);
  std::ofstream(dir_ / "openbits.conf") << "";
  Open();
}

TEST_F(RpcTest, UsersSeeOnlyTheirOwnJobsAndRootSeesAll) {
  const std::string a = Call("job.create", {{"name", "alice's"}}, alice_)["result"]["id"];
  Call("job.create", {{"name", "bob's"}}, bob_);
  json mine = Call("job.list", json::object(), alice_)["result"]["jobs"];
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0]["name"], "alice's");
  EXPECT_EQ(Call("job.list", {{"allUsers", true}}, alice_)["error"]["data"]["hresult"],
            0x80070005u);
  EXPECT_EQ(Call("job.info", {{"id", a}}, bob_)["error"]["data"]["hresult"], 0x80070005u);
  EXPECT_EQ(Call("job.cancel", {{"id", a}}, bob_)["error"]["data"]["hresult"], 0x80070005u);
  EXPECT_EQ(Call("job.list", {{"allUsers", true}}, root_)["result"]["jobs"].size(), 2u);
  EXPECT_TRUE(Call("job.cancel", {{"id", a}}, root_).contains("result"));
}

TEST_F(RpcTest, ListingByNameReturnsOnlyTheCallersJobsWithThatName) {
  const std::string a = Call("job.create", {{"name", "nightly"}}, alice_)["result"]["id"];
  Call("job.create", {{"name", "nightly "}}, alice_);
  Call("job.create", {{"name", "weekly"}}, alice_);
  Call("job.create", {{"name", "nightly"}}, bob_);
  json found = Call("job.list", {{"name", "nightly"}}, alice_)["result"]["jobs"];
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["id"], a);
  EXPECT_TRUE(Call("job.list", {{"name", "hourly"}}, alice_)["result"]["jobs"].empty());
  EXPECT_EQ(
      Call("job.list", {{"name", "nightly"}, {"allUsers", true}}, root_)["result"]["jobs"].size(),
      2u);
}

TEST_F(RpcTest, ASummaryListCarriesOnlyWhatBitsadminListPrints) {
  const std::string id = Call("job.create", {{"name", "summary"}}, alice_)["result"]["id"];
  json full = Call("job.list", json::object(), alice_)["result"]["jobs"];
  json summary = Call("job.list", {{"summary", true}}, alice_)["result"]["jobs"];
  ASSERT_EQ(summary.size(), 1u);
  std::set<std::string> keys;
  for (auto& [key, value] : summary[0].items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "name", "state", "filesTotal", "filesTransferred",
                                         "bytesTotal", "bytesTransferred"}));
  for (const std::string& key : keys) EXPECT_EQ(summary[0][key], full[0][key]) << key;
  EXPECT_EQ(summary[0]["id"], id);
  EXPECT_GT(full[0].size(), keys.size());
  EXPECT_EQ(Call("job.list", {{"summary", "yes"}}, alice_)["error"]["code"], -32602);
}

TEST_F(RpcTest, ASummaryListEscapesNamesAsTheFullListDoes) {
  // The summary is written without the JSON library's tree: every name must
  // still come back as the full list (the library's serializer) gives it.
  const std::vector<std::string> names = {
      "plain",       "say \"hi\"",    "back\\slash", "tab\there",    std::string("nul\0in", 6),
      "caf\xc3\xa9", "bad \xff utf8", "\x7f del",    "\u00e9t\u00e9"};
  for (const std::string& name : names) {
    json params = {{"name", name}};
    Send(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "job.create"}, {"params", params}}.dump(
             -1, ' ', false, json::error_handler_t::replace),
         alice_);
  }
  json full = Call("job.list", json::object(), alice_)["result"]["jobs"];
  json summary = Call("job.list", {{"summary", true}}, alice_)["result"]["jobs"];
  ASSERT_EQ(full.size(), names.size());
  ASSERT_EQ(summary.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(summary[i]["name"], full[i]["name"]) << i;
    EXPECT_EQ(summary[i]["id"], full[i]["id"]) << i;
  }
  EXPECT_EQ(summary[1]["name"], "say \"hi\"");
  EXPECT_EQ(summary[6]["name"], "bad \xef\xbf\xbd utf8");  // U+FFFD
}

TEST_F(RpcTest, PropertiesRoundTripAndAreValidated) {
  const std::string id = Call("job.create", {{"name", "props"}}, alice_)["result"]["id"];
  EXPECT_TRUE(Call("job.set", {{"id", id}, {"property", "priority"}, {"value", 1}}, alice_)
                  .contains("result"));
  EXPECT_TRUE(Call("job.set", {{"id", id}, {"property", "minRetryDelay"}, {"value", 1}}, alice_)
                  .contains("result"));
  EXPECT_EQ(Call("job.set", {{"id", id}, {"property", "customHeaders"}, {"value", "A: 1\nB: 2"}},
                 alice_)["error"]["data"]["hresult"],
            0x80070057u);
  EXPECT_EQ(Call("job.set", {{"id", id}, {"property", "nonsense"}, {"value", 1}},
                 alice_)["error"]["code"],
            -32602);
  json info = Call("job.info", {{"id", id}}, alice_)["result"]["job"];
  EXPECT_EQ(info["priority"], "HIGH");
  EXPECT_EQ(info["minRetryDelay"], 5);  // BITS's minimum
  EXPECT_EQ(info["state"], "SUSPENDED");
  EXPECT_TRUE(info["bytesTotal"] == 0);
}

TEST_F(RpcTest, OnlyTheDaemonsUserOrRootMayStopIt) {
  bool shutdown = false;
  rpc_->Handle(R"({"jsonrpc":"2.0","id":1,"method":"daemon.shutdown"})", bob_, &shutdown);
  EXPECT_FALSE(shutdown);
  rpc_->Handle(R"({"jsonrpc":"2.0","id":1,"method":"daemon.shutdown"})", root_, &shutdown);
  EXPECT_TRUE(shutdown);
}

TEST_F(RpcTest, InvalidUtf8InNamesDoesNotBreakReplies) {
  json reply = Send(
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.create\",\"params\":"
      "{\"name\":\"caf\xc3\xa9\"}}",
      alice_);
  ASSERT_TRUE(reply.contains("result"));
  json list = Call("job.list", json::object(), alice_);
  EXPECT_EQ(list["result"]["jobs"][0]["name"], "caf\xc3\xa9");
}

}  // namespace
}  // namespace openbits::daemon

namespace openbits::daemon {
namespace {

TEST_F(RpcTest, CredentialsAreSealedNeverShownAndDroppedByTakeOwnership) {
  const std::string id = Call("job.create", {{"name", "j"}}, alice_)["result"]["id"];
  json set = Call("job.setCredentials",
                  {{"id", id},
                   {"target", "server"},
                   {"scheme", "basic"},
                   {"userName", "alice"},
                   {"password", "Rpc-Secret-42"}},
                  alice_);
  ASSERT_TRUE(set.contains("result")) << set.dump();
  json info = Call("job.info", {{"id", id}}, alice_);
  EXPECT_EQ(info["result"]["job"]["credentials"].size(), 1u);
  EXPECT_EQ(info.dump().find("Rpc-Secret-42"), std::string::npos);
  EXPECT_EQ(Call("job.setCredentials",
                 {{"id", id}, {"target", "server"}, {"scheme", "basic"}, {"userName", "a"}},
                 alice_)["error"]["code"],
            -32602);  // a password (or null for both) is required
  EXPECT_EQ(Call("job.takeOwnership", {{"id", id}}, bob_)["error"]["data"]["hresult"],
            static_cast<std::uint32_t>(kEAccessDenied));
  ASSERT_TRUE(Call("job.takeOwnership", {{"id", id}}, root_).contains("result"));
  info = Call("job.info", {{"id", id}}, root_);
  EXPECT_EQ(info["result"]["job"]["owner"], "0");
  EXPECT_TRUE(info["result"]["job"]["credentials"].empty());
  // A credential cache the caller does not own cannot speak for them.
  Call("openbits.hello", {{"credentialCache", "FILE:/etc/passwd"}}, alice_);
  EXPECT_EQ(
      engine_->Call([&] { return engine_->SetCredentialCache(alice_, "FILE:/etc/passwd"); }).code(),
      kEAccessDenied);
  EXPECT_EQ(engine_->Call([&] { return engine_->SetCredentialCache(alice_, "MEMORY:x"); }).code(),
            kEInvalidArg);
  EXPECT_EQ(
      engine_->Call([&] { return engine_->SetCredentialCache(alice_, "KEYRING:persistent:1002"); })
          .code(),
      kEAccessDenied);  // bob's keyring
  EXPECT_TRUE(
      engine_->Call([&] { return engine_->SetCredentialCache(alice_, "KEYRING:persistent:1001"); })
          .ok());
  EXPECT_EQ(engine_->Call([&] { return engine_->SetCredentialCache(alice_, "KCM:0"); }).code(),
            kEAccessDenied);
}

}  // namespace
}  // namespace openbits::daemon
