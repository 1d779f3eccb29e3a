// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "remote/json_rpc.h"

#include <algorithm>

#include "openbits/hresult.h"

#include "platform/secret_buffer.h"

namespace openbits::remote {

using json = nlohmann::json;

Result<json> ResultOfReply(json&& reply) {
  if (!reply.contains("error")) {
    // Moved out, not copied: a list of many jobs is a large tree.
    auto result = reply.find("result");
    if (result == reply.end()) return json::object();
    return std::move(*result);
  }
  const json& e = reply["error"];
  HResult code = kEFail;
  if (e.contains("data") && e["data"].contains("hresult")) {
    code = static_cast<HResult>(e["data"]["hresult"].get<std::uint32_t>());
  } else if (e.value("code", 0) == -32602 || e.value("code", 0) == -32600) {
    code = kEInvalidArg;
  }
  return Status(code, e.value("message", std::string("error")));
}

void AppendJsonString(std::string* out, std::string_view text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    out->push_back('"');
    out->append(text);
    out->push_back('"');
    return;
  }
  // The rare name that needs escaping goes through the one serializer.
  out->append(json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace));
}

void ScrubPasswords(json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if ((it.key() == "password" || it.key() == "remote") && it.value().is_string()) {
        platform::Cleanse(it.value().get_ref<std::string&>());
      } else {
        ScrubPasswords(it.value());
      }
    }
  } else if (j.is_array()) {
    for (json& item : j) ScrubPasswords(item);
  }
}

}  // namespace openbits::remote
