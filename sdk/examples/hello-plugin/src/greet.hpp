// example.greet — builds a greeting from its parameters and its input.
#pragma once

#include <weft/sdk.hpp>

namespace hello {

class Greet final : public weft::sdk::Node {
 public:
  static constexpr std::string_view type_name = "example.greet";
  static constexpr uint32_t type_version = 1;
  static constexpr uint32_t flags = 0;
  static const std::string_view schema;

  // Stateless: safe to run concurrently, as the host does.
  void execute(weft::sdk::Context& ctx) const override;
};

}  // namespace hello
