// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "remote/json_rpc.h"

#include <algorithm>
#include <cctype>
#include <variant>

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

nlohmann::json PropertyValueToJson(const PropertyValue& value) {
  using nlohmann::json;
  struct ToJson {
    json operator()(bool b) const { return b; }
    json operator()(std::uint32_t n) const { return n; }
    json operator()(const std::string& text) const { return text; }
    json operator()(const NotifyCommandLine& line) const {
      return {{"program", line.program}, {"parameters", line.parameters}};
    }
    json operator()(const ProxySettings& proxy) const {
      return {{"usage", std::string(ProxyUsageName(proxy.usage))},
              {"list", proxy.proxy_list},
              {"bypass", proxy.bypass_list}};
    }
  };
  return std::visit(ToJson{}, value);
}

Result<PropertyValue> PropertyValueFromJson(JobProperty property, const nlohmann::json& j) {
  const std::string name(JobPropertyName(property));
  auto wrong = [&](const char* type) { return Status(kEInvalidArg, name + " takes " + type); };
  switch (property) {
    case JobProperty::kDynamicContent:
      if (!j.is_boolean()) return wrong("a boolean");
      return PropertyValue(j.get<bool>());
    case JobProperty::kDisplayName:
    case JobProperty::kDescription:
    case JobProperty::kHttpMethod:
    case JobProperty::kCustomHeaders:
      if (!j.is_string()) return wrong("a string");
      return PropertyValue(j.get<std::string>());
    case JobProperty::kNotifyCommandLine:
      if (!j.is_object() || !j.contains("program") || !j["program"].is_string() ||
          !j.contains("parameters") || !j["parameters"].is_string()) {
        return wrong("{program, parameters}");
      }
      return PropertyValue(
          NotifyCommandLine{j["program"].get<std::string>(), j["parameters"].get<std::string>()});
    case JobProperty::kProxySettings: {
      const bool list_ok = !j.is_object() || !j.contains("list") || j["list"].is_string();
      const bool bypass_ok = !j.is_object() || !j.contains("bypass") || j["bypass"].is_string();
      if (!j.is_object() || !j.contains("usage") || !j["usage"].is_string() || !list_ok ||
          !bypass_ok) {
        return wrong("{usage, list?, bypass?}");
      }
      std::string word = j["usage"].get<std::string>();
      for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      ProxySettings proxy;
      bool known = false;
      for (ProxyUsage u : {ProxyUsage::kPreconfig, ProxyUsage::kNoProxy, ProxyUsage::kOverride,
                           ProxyUsage::kAutodetect}) {
        if (word == ProxyUsageName(u)) {
          proxy.usage = u;
          known = true;
        }
      }
      if (!known) return Status(kENotImpl, "unknown proxy usage " + word);
      if (j.contains("list")) proxy.proxy_list = j["list"].get<std::string>();
      if (j.contains("bypass")) proxy.bypass_list = j["bypass"].get<std::string>();
      return PropertyValue(std::move(proxy));
    }
    default:
      if (!j.is_number_unsigned() || j.get<std::uint64_t>() > 0xFFFFFFFFu) {
        return wrong("a 32-bit unsigned number");
      }
      return PropertyValue(static_cast<std::uint32_t>(j.get<std::uint64_t>()));
  }
}

}  // namespace openbits::remote
