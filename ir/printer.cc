// kiln — IR text printer (docs/ir-format.md): value numbering, ops, regions, literals.
#include "ir/printer.h"

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>
#include <unordered_map>

#include "support/half.h"
#include "support/str.h"

namespace kiln::ir {
namespace {

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  const auto alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!alpha(s[0])) return false;
  for (char c : s) {
    if (!alpha(c) && !digit(c) && c != '.') return false;
  }
  return true;
}

// Shortest round-trip text for a double attribute, with a '.' or exponent like format_float.
std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += '\\';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string attribute_to_string(const Attribute& attr) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return format_double(v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::vector<int64_t>& v) const {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += cat(i ? ", " : "", v[i]);
      return out + "]";
    }
    std::string operator()(const std::string& v) const { return quote(v); }
  };
  return std::visit(Visitor{}, attr);
}

std::string element_to_string(const Literal& lit, int64_t i) {
  switch (lit.type().dtype) {
    case DType::kFloat32:
      return format_float(static_cast<float>(lit.get(i)));
    case DType::kFloat64:
      return format_double(lit.get(i));
    case DType::kFloat16:
    case DType::kBFloat16:
      return format_half(static_cast<float>(lit.get(i)), lit.type().dtype);
    case DType::kInt32:
    case DType::kInt64:
      return std::to_string(lit.get_int64(i));
    case DType::kBool:
      return lit.get(i) != 0 ? "true" : "false";
  }
  return "?";
}

std::string literal_to_string(const Literal& lit) {
  if (lit.type().shape.rank() == 0 && lit.num_elements() == 1) return element_to_string(lit, 0);
  std::string out = "[";
  for (int64_t i = 0; i < lit.num_elements(); ++i) {
    if (i) out += ", ";
    out += element_to_string(lit, i);
  }
  return out + "]";
}

std::string type_list(const std::vector<Type>& types) {
  std::string out = "(";
  for (size_t i = 0; i < types.size(); ++i) out += cat(i ? ", " : "", types[i]);
  return out + ")";
}

std::vector<Type> value_types(const std::vector<Value*>& values) {
  std::vector<Type> out;
  for (const Value* v : values) out.push_back(v ? v->type() : Type{});
  return out;
}

// The names values print with inside one function: arguments keep their (unique, valid) names,
// op results are numbered in definition order across the function, nested regions included.
class Namer {
 public:
  explicit Namer(const Function& fn) {
    name_arguments(fn.body());
    number_ops(fn.body());
  }

  std::string ref(const Value* v) const {
    if (v == nullptr) return "%<null>";
    if (const Op* def = v->defining_op()) {
      auto it = op_numbers_.find(def);
      if (it == op_numbers_.end()) return "%<unknown>";
      if (def->num_results() == 1) return cat("%", it->second);
      return cat("%", it->second, "#", v->index());
    }
    auto it = arg_names_.find(v);
    return it == arg_names_.end() ? "%<unknown>" : cat("%", it->second);
  }

  // "%3 = ", "%3:2 = " or "" for an op without results.
  std::string results(const Op& op) const {
    if (op.num_results() == 0) return "";
    auto it = op_numbers_.find(&op);
    const std::string n = it == op_numbers_.end() ? "<unknown>" : std::to_string(it->second);
    if (op.num_results() == 1) return cat("%", n, " = ");
    return cat("%", n, ":", op.num_results(), " = ");
  }

 private:
  // Region arguments get their own namespace: a region is isolated from the values above it.
  void name_arguments(const Block& block) {
    std::set<std::string> used;
    for (int i = 0; i < block.num_arguments(); ++i) {
      const Value* arg = block.argument(i);
      std::string name = is_identifier(arg->name()) ? arg->name() : cat("arg", i);
      const std::string base = name;
      for (int k = 1; used.count(name); ++k) name = cat(base, "_", k);
      used.insert(name);
      arg_names_[arg] = name;
    }
  }

  void number_ops(const Block& block) {
    for (const auto& op : block.ops()) {
      if (op->num_results() > 0) op_numbers_[op.get()] = next_++;
      for (int r = 0; r < op->num_regions(); ++r) {
        name_arguments(*op->region(r));
        number_ops(*op->region(r));
      }
    }
  }

  std::unordered_map<const Value*, std::string> arg_names_;
  std::unordered_map<const Op*, int> op_numbers_;
  int next_ = 0;
};

class Printer {
 public:
  Printer(std::ostream& os, const Function& fn, const PrintOptions& options)
      : os_(os), fn_(fn), options_(options), namer_(fn) {}

  void print_function() {
    os_ << "func @" << fn_.name() << "(";
    print_arguments(fn_.body());
    os_ << ") -> ";
    const std::vector<Type> results = fn_.result_types();
    if (results.size() == 1) {
      os_ << results[0].to_string();
    } else {
      os_ << type_list(results);
    }
    os_ << " {\n";
    print_ops(fn_.body(), 1);
    os_ << "}\n";
  }

  // The op's first line, without indentation, region or newline.
  std::string op_line(const Op& op) const {
    std::string out = namer_.results(op);
    out += op.mnemonic();
    switch (op_info(op.kind()).cls) {
      case OpClass::kConstant:
        out += op.literal() ? cat(" ", literal_to_string(*op.literal())) : " <no literal>";
        out += attrs(op);
        out += cat(" : ", result_types(op));
        break;
      case OpClass::kFusion:
        out += cat(" (", operands(op), ")", attrs(op), " : ", type_list(value_types(op.operands())),
                   " -> ", result_types(op));
        break;
      case OpClass::kControl:
        if (op.num_operands() > 0) out += cat(" ", operands(op));
        out +=
            cat(attrs(op), " : ", type_list(value_types(op.operands())), " -> ",
                op.num_results() == 1 ? result_types(op) : type_list(value_types(results_of(op))));
        break;
      case OpClass::kTerminator:
        if (op.num_operands() > 0) {
          out += cat(" ", operands(op), attrs(op), " : ");
          for (int i = 0; i < op.num_operands(); ++i) {
            out += cat(i ? ", " : "", op.operand(i) ? op.operand(i)->type().to_string() : "?");
          }
        } else {
          out += attrs(op);
        }
        break;
      default:
        if (op.num_operands() > 0) out += cat(" ", operands(op));
        out += attrs(op);
        out += cat(" : ", result_types(op));
        break;
    }
    if (options_.print_locations && op.loc().known()) {
      const Location& loc = op.loc();
      out += loc.file.empty() ? cat(" loc(", loc.line, ":", loc.col, ")")
                              : cat(" loc(", quote(loc.file), ":", loc.line, ":", loc.col, ")");
    }
    return out;
  }

 private:
  void print_arguments(const Block& block) {
    for (int i = 0; i < block.num_arguments(); ++i) {
      if (i) os_ << ", ";
      os_ << namer_.ref(block.argument(i)) << ": " << block.argument(i)->type().to_string();
    }
  }

  void print_ops(const Block& block, int depth) {
    const std::string indent(2 * depth, ' ');
    for (const auto& op : block.ops()) {
      os_ << indent << op_line(*op);
      for (int r = 0; r < op->num_regions(); ++r) {
        // Later regions follow the keyword that names them: `} else {` (cond), `} do {` (while).
        if (r > 0) os_ << (op->kind() == OpKind::kWhile ? " do" : " else");
        const Block* region = op->region(r);
        os_ << " {\n" << indent << "^bb0(";
        print_arguments(*region);
        os_ << "):\n";
        print_ops(*region, depth + 1);
        os_ << indent << "}";
      }
      os_ << "\n";
    }
  }

  std::string operands(const Op& op) const {
    std::string out;
    for (int i = 0; i < op.num_operands(); ++i) {
      out += cat(i ? ", " : "", namer_.ref(op.operand(i)));
    }
    return out;
  }

  static std::string attrs(const Op& op) {
    if (op.attrs().empty()) return "";
    std::string out = " {";
    bool first = true;
    for (const auto& [key, value] : op.attrs()) {
      out += cat(first ? "" : ", ", key, " = ", attribute_to_string(value));
      first = false;
    }
    return out + "}";
  }

  static std::vector<Value*> results_of(const Op& op) {
    std::vector<Value*> out;
    for (int i = 0; i < op.num_results(); ++i) out.push_back(op.result(i));
    return out;
  }

  static std::string result_types(const Op& op) {
    std::vector<Type> types;
    for (int i = 0; i < op.num_results(); ++i) types.push_back(op.result(i)->type());
    return types.size() == 1 ? types[0].to_string() : type_list(types);
  }

  std::ostream& os_;
  const Function& fn_;
  const PrintOptions& options_;
  Namer namer_;
};

}  // namespace

std::string format_float(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string format_half(float v, DType dtype) {
  if (std::isnan(v) || std::isinf(v)) return format_float(v);
  // Integral values print exactly ("65504.0" rather than "6.55e+04").
  if (v == std::trunc(v) && std::fabs(v) < 16777216.0f) return format_float(v);
  // Otherwise the fewest significant digits that read back (text -> float -> 16 bits) to the same
  // value.
  const auto round16 = [dtype](float f) {
    return dtype == DType::kBFloat16 ? BFloat16(f).to_float() : Half(f).to_float();
  };
  char buf[64];
  std::string s;
  for (int precision = 1; precision <= 9; ++precision) {
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, precision);
    s.assign(buf, r.ptr);
    float back = 0;
    std::from_chars(buf, r.ptr, back);
    if (round16(back) == v) break;
  }
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

void print(std::ostream& os, const Function& fn, const PrintOptions& options) {
  Printer(os, fn, options).print_function();
}

std::string print(const Function& fn, const PrintOptions& options) {
  std::ostringstream os;
  print(os, fn, options);
  return os.str();
}

std::string print(const Module& module, const PrintOptions& options) {
  std::ostringstream os;
  bool first = true;
  for (const auto& fn : module.functions()) {
    if (!first) os << "\n";
    first = false;
    print(os, *fn, options);
  }
  return os.str();
}

std::string print_op(const Function& fn, const Op& op) {
  std::ostringstream unused;
  PrintOptions options;
  return Printer(unused, fn, options).op_line(op);
}

}  // namespace kiln::ir
