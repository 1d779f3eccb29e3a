// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// JSON-RPC helpers shared by both ends of the daemon's protocol
// (docs/ipc.md): the daemon, bitsadmin and openbits::Connect().

#ifndef OPENBITS_REMOTE_JSON_RPC_H_
#define OPENBITS_REMOTE_JSON_RPC_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "openbits/status.h"
#include "openbits/types.h"

namespace openbits::remote {

// The "result" of a reply, or its "error" as a Status carrying the BITS
// HRESULT (data.hresult; E_INVALIDARG for invalid requests or parameters).
Result<nlohmann::json> ResultOfReply(nlohmann::json&& reply);

// Appends `text` to `out` as a JSON string (quoted and escaped; invalid
// UTF-8 becomes U+FFFD, as the daemon's other replies do). For replies
// written without a document tree: a list of 100,000 jobs.
void AppendJsonString(std::string* out, std::string_view text);

// Overwrites every "password" and "remote" (a URL may embed a password)
// string in `j`: a request's copies of a secret must not linger in freed
// memory.
void ScrubPasswords(nlohmann::json& j);

// A property's value as job.set carries it (docs/ipc.md): a boolean, a
// number, a string, {program, parameters} or {usage, list, bypass}.
nlohmann::json PropertyValueToJson(const PropertyValue& value);

// The value `property` takes, read from `j`. E_INVALIDARG when `j` is not
// of the property's type; E_NOTIMPL for an unknown proxy usage name.
Result<PropertyValue> PropertyValueFromJson(JobProperty property, const nlohmann::json& j);

}  // namespace openbits::remote

#endif  // OPENBITS_REMOTE_JSON_RPC_H_
