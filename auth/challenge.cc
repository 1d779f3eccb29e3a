// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/challenge.h"

#include <cctype>

namespace openbits::auth {
namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken68Char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("-._~+/").find(c) != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool done() const { return pos_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  void SkipSpace() {
    while (!done() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  void SkipSpaceAndCommas() {
    while (!done() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == ',')) ++pos_;
  }
  std::string_view Token() {
    const std::size_t start = pos_;
    while (!done() && IsTokenChar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // A token68 followed only by '=' padding, then space/comma/end.
  bool TryToken68(std::string* out) {
    const std::size_t start = pos_;
    std::size_t p = pos_;
    while (p < text_.size() && IsToken68Char(text_[p])) ++p;
    if (p == start) return false;
    while (p < text_.size() && text_[p] == '=') ++p;
    std::size_t q = p;
    while (q < text_.size() && (text_[q] == ' ' || text_[q] == '\t')) ++q;
    if (q < text_.size() && text_[q] != ',') return false;
    // "name=value" is an auth-param, not a token68 ending in '='.
    const std::size_t first_eq = text_.find('=', start);
    if (first_eq != std::string_view::npos && first_eq < p) {
      const std::size_t after = first_eq + 1;
      if (after < p && text_[after] != '=') return false;
    }
    *out = std::string(text_.substr(start, p - start));
    pos_ = p;
    return true;
  }
  // name = ( token / quoted-string ); false (cursor unchanged) if not one.
  bool TryParam(std::string* name, std::string* value) {
    const std::size_t start = pos_;
    std::string_view n = Token();
    SkipSpace();
    if (n.empty() || peek() != '=') {
      pos_ = start;
      return false;
    }
    ++pos_;
    SkipSpace();
    std::string v;
    if (peek() == '"') {
      ++pos_;
      while (!done() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        v += text_[pos_++];
      }
      if (done()) {
        pos_ = start;
        return false;  // unterminated quote
      }
      ++pos_;
    } else {
      v = std::string(Token());
    }
    *name = Lower(n);
    *value = std::move(v);
    return true;
  }
  // Skips to the next comma (a piece we cannot read).
  void SkipElement() {
    while (!done() && text_[pos_] != ',') ++pos_;
  }
  std::size_t pos() const { return pos_; }
  void set_pos(std::size_t p) { pos_ = p; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

void ParseValue(std::string_view value, std::vector<Challenge>* out) {
  Cursor c(value);
  while (true) {
    c.SkipSpaceAndCommas();
    if (c.done()) return;
    const std::string_view scheme = c.Token();
    if (scheme.empty()) {
      c.SkipElement();
      if (c.peek() == ',') continue;
      if (c.done()) return;
      c.set_pos(c.pos() + 1);
      continue;
    }
    Challenge ch;
    ch.scheme = Lower(scheme);
    c.SkipSpace();
    if (!c.done() && c.peek() != ',') {
      std::string token68;
      if (!c.TryToken68(&token68)) {
        // auth-params until the next element that starts a new challenge.
        while (true) {
          std::string name, v;
          if (!c.TryParam(&name, &v)) {
            c.SkipElement();
          } else {
            ch.params[name] = v;
          }
          c.SkipSpace();
          if (c.peek() != ',') break;
          // Look past the comma: a param continues this challenge, a bare
          // token starts the next one.
          const std::size_t comma = c.pos();
          c.SkipSpaceAndCommas();
          std::string probe_name, probe_value;
          const std::size_t at = c.pos();
          if (c.TryParam(&probe_name, &probe_value)) {
            c.set_pos(at);
            continue;
          }
          c.set_pos(comma);
          break;
        }
      } else {
        ch.token68 = std::move(token68);
      }
    }
    out->push_back(std::move(ch));
  }
}

}  // namespace

std::vector<Challenge> ParseChallenges(const std::vector<std::string>& values) {
  std::vector<Challenge> out;
  for (const std::string& v : values) ParseValue(v, &out);
  return out;
}

const Challenge* FindChallenge(const std::vector<Challenge>& challenges, std::string_view scheme) {
  for (const Challenge& c : challenges) {
    if (c.scheme == scheme) return &c;
  }
  return nullptr;
}

}  // namespace openbits::auth
