// kiln — nested structures of Tensors as kiln::function arguments and results (as tf.nest).
//
// A structure is a Tensor (or anything that reads as one, e.g. a Variable), a static value (a
// number, bool, enum, string, or a type with std::hash: part of the cache key by value), or a
// container of structures: std::vector, std::array, std::tuple, std::pair,
// std::map<std::string, T>, std::optional, or a user struct that declares its fields:
//
//   struct Dense {
//     kiln::Tensor w, b;
//     int units = 0;
//     KILN_FIELDS(w, b, units)
//   };
//
// flatten() lists the Tensor leaves in order and appends an encoding of everything else (the
// container kinds, lengths, map keys, struct types and static values) to a structure string:
// two arguments with equal structure strings and equal leaf dtypes and shapes trace alike.
// rebuild() makes the same structure with other Tensors at the leaves (symbolic ones while
// tracing); unflatten() builds a result from the flat results and the structure recorded when
// it was traced; describe() names every leaf by its path ("arg 0['w'][1]") for retrace reasons.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ir/types.h"
#include "runtime/tensor.h"

// Declares a struct's fields (inside the struct) so that kiln::function can take and return it.
// A struct result is default-constructed and its fields assigned.
#define KILN_FIELDS(...)                                     \
  auto kiln_fields() const { return std::tie(__VA_ARGS__); } \
  auto kiln_fields() { return std::tie(__VA_ARGS__); }       \
  static constexpr std::string_view kiln_field_names() { return #__VA_ARGS__; }

namespace kiln::nest {

// ---- classification --------------------------------------------------------------------------

template <typename T>
inline constexpr bool kIsTensor = std::is_convertible_v<const T&, const Tensor&>;

template <typename T>
struct IsVector : std::false_type {};
template <typename T, typename A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <typename T>
struct IsArray : std::false_type {};
template <typename T, size_t N>
struct IsArray<std::array<T, N>> : std::true_type {};
template <typename T>
struct IsTuple : std::false_type {};
template <typename... T>
struct IsTuple<std::tuple<T...>> : std::true_type {};
template <typename A, typename B>
struct IsTuple<std::pair<A, B>> : std::true_type {};
template <typename T>
struct IsMap : std::false_type {};
template <typename T, typename C, typename A>
struct IsMap<std::map<std::string, T, C, A>> : std::true_type {};
template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <typename T>
concept HasFields = requires(const T& c, T& m) {
  c.kiln_fields();
  m.kiln_fields();
  T::kiln_field_names();
};

template <typename T>
concept StaticValue = std::is_arithmetic_v<T> || std::is_enum_v<T> ||
    std::is_convertible_v<const T&, std::string_view> || requires(const T& v) {
  std::hash<T>{}(v);
};

enum Tag : char {
  kTensorTag = 't',
  kStaticTag = 's',
  kVectorTag = 'v',
  kArrayTag = 'a',
  kTupleTag = 'p',
  kMapTag = 'm',
  kOptionalTag = 'o',
  kStructTag = 'S',
};

inline void put_u32(std::string& out, size_t n) {
  const uint32_t v = static_cast<uint32_t>(n);
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}
inline uint32_t get_u32(const char*& p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  p += sizeof(v);
  return v;
}

// A process-unique address per struct type (struct types are part of the structure).
template <typename T>
inline constexpr char kTypeTag = 0;
template <typename T>
void put_type(std::string& out) {
  const void* p = &kTypeTag<T>;
  out.append(reinterpret_cast<const char*>(&p), sizeof(p));
}

// ---- static values -----------------------------------------------------------------------

// The exact cache-key encoding of a static value (floating point by its bits; user types by
// their std::hash).
template <typename T>
void put_static(std::string& out, const T& v) {
  std::string key;
  if constexpr (std::is_same_v<T, bool>) {
    key = v ? "b1" : "b0";
  } else if constexpr (std::is_integral_v<T>) {
    key = "i" + std::to_string(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    const double d = static_cast<double>(v);
    uint64_t bits;
    static_assert(sizeof(bits) == sizeof(d));
    std::memcpy(&bits, &d, sizeof(d));
    key = "f" + std::to_string(bits);
  } else if constexpr (std::is_enum_v<T>) {
    key = "e" + std::to_string(static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    key = "s" + std::string(std::string_view(v));
  } else {
    key = "h" + std::to_string(std::hash<T>{}(v));
  }
  out += kStaticTag;
  put_u32(out, key.size());
  out += key;
}

// The readable form of a static value, for signatures and retrace reasons.
template <typename T>
std::string static_repr(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    return std::to_string(static_cast<double>(v));
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return "\"" + std::string(std::string_view(v)) + "\"";
  } else {
    return "<hash " + std::to_string(std::hash<T>{}(v)) + ">";
  }
}

template <typename T>
constexpr void check_supported() {
  if constexpr (kIsTensor<T> || StaticValue<T> || HasFields<T>) {
  } else if constexpr (IsVector<T>::value || IsArray<T>::value || IsOptional<T>::value) {
    check_supported<typename T::value_type>();
  } else if constexpr (IsMap<T>::value) {
    check_supported<typename T::mapped_type>();
  } else if constexpr (IsTuple<T>::value) {
    [&]<size_t... I>(std::index_sequence<I...>) {
      (check_supported<std::tuple_element_t<I, T>>(), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<T>>());
  } else {
    static_assert(
        sizeof(T) == 0,
        "kiln::function: unsupported argument or result type. Supported: Tensor (and "
        "Variable), numbers, bool, enums, strings, types with a std::hash specialization, "
        "std::vector, std::array, std::tuple, std::pair, std::map<std::string, T>, "
        "std::optional, and structs that declare their fields with KILN_FIELDS(...)");
  }
}

// ---- flatten -------------------------------------------------------------------------------

template <typename T>
void flatten(const T& v, std::vector<Tensor>& tensors, std::string& structure);

template <typename Tuple>
void flatten_tuple(const Tuple& t, std::vector<Tensor>& tensors, std::string& structure) {
  std::apply([&](const auto&... e) { (flatten(e, tensors, structure), ...); }, t);
}

// Appends the Tensor leaves of `v` to `tensors` and its structure to `structure`.
template <typename T>
void flatten(const T& v, std::vector<Tensor>& tensors, std::string& structure) {
  check_supported<T>();
  if constexpr (kIsTensor<T>) {
    structure += kTensorTag;
    tensors.push_back(static_cast<const Tensor&>(v));
  } else if constexpr (HasFields<T>) {
    structure += kStructTag;
    put_type<T>(structure);
    flatten_tuple(v.kiln_fields(), tensors, structure);
  } else if constexpr (IsVector<T>::value || IsArray<T>::value) {
    structure += IsVector<T>::value ? kVectorTag : kArrayTag;
    put_u32(structure, v.size());
    for (const auto& e : v) flatten(e, tensors, structure);
  } else if constexpr (IsTuple<T>::value) {
    structure += kTupleTag;
    flatten_tuple(v, tensors, structure);
  } else if constexpr (IsMap<T>::value) {
    structure += kMapTag;
    put_u32(structure, v.size());
    for (const auto& [k, e] : v) {
      put_u32(structure, k.size());
      structure += k;
      flatten(e, tensors, structure);
    }
  } else if constexpr (IsOptional<T>::value) {
    structure += kOptionalTag;
    structure += v.has_value() ? '1' : '0';
    if (v) flatten(*v, tensors, structure);
  } else {
    put_static(structure, v);
  }
}

// ---- rebuild (arguments, while tracing) ----------------------------------------------------

// The type a structure has with Tensors at its leaves: Variables become Tensors, containers
// keep their shape; structs stay themselves (their Tensor fields must be Tensors).
template <typename T>
struct RebuiltT {
  using type = T;
};
template <typename T>
using Rebuilt = typename RebuiltT<T>::type;
template <typename T>
requires kIsTensor<T>
struct RebuiltT<T> {
  using type = Tensor;
};
template <typename T, typename A>
struct RebuiltT<std::vector<T, A>> {
  using type = std::vector<Rebuilt<T>>;
};
template <typename T, size_t N>
struct RebuiltT<std::array<T, N>> {
  using type = std::array<Rebuilt<T>, N>;
};
template <typename... T>
struct RebuiltT<std::tuple<T...>> {
  using type = std::tuple<Rebuilt<T>...>;
};
template <typename A, typename B>
struct RebuiltT<std::pair<A, B>> {
  using type = std::pair<Rebuilt<A>, Rebuilt<B>>;
};
template <typename T, typename C, typename A>
struct RebuiltT<std::map<std::string, T, C, A>> {
  using type = std::map<std::string, Rebuilt<T>>;
};
template <typename T>
struct RebuiltT<std::optional<T>> {
  using type = std::optional<Rebuilt<T>>;
};

// `v` with its Tensor leaves replaced, in order, by tensors[next], tensors[next + 1], ...
template <typename T>
Rebuilt<T> rebuild(const T& v, std::span<const Tensor> tensors, size_t& next) {
  if constexpr (kIsTensor<T>) {
    return tensors[next++];
  } else if constexpr (HasFields<T>) {
    T out = v;
    std::apply(
        [&](auto&... dst) {
          std::apply(
              [&](const auto&... src) {
                auto assign = [&](auto& d, const auto& s) {
                  static_assert(
                      std::is_same_v<Rebuilt<std::decay_t<decltype(s)>>, std::decay_t<decltype(d)>>,
                      "kiln::function: a KILN_FIELDS struct's Tensor leaves must be "
                      "declared as Tensor (not Variable)");
                  d = rebuild(s, tensors, next);
                };
                (assign(dst, src), ...);
              },
              v.kiln_fields());
        },
        out.kiln_fields());
    return out;
  } else if constexpr (IsVector<T>::value) {
    Rebuilt<T> out;
    out.reserve(v.size());
    for (const auto& e : v) out.push_back(rebuild(e, tensors, next));
    return out;
  } else if constexpr (IsArray<T>::value) {
    Rebuilt<T> out;
    for (size_t i = 0; i < v.size(); ++i) out[i] = rebuild(v[i], tensors, next);
    return out;
  } else if constexpr (IsTuple<T>::value) {
    return std::apply([&](const auto&... e) { return Rebuilt<T>{rebuild(e, tensors, next)...}; },
                      v);
  } else if constexpr (IsMap<T>::value) {
    Rebuilt<T> out;
    for (const auto& [k, e] : v) out.emplace(k, rebuild(e, tensors, next));
    return out;
  } else if constexpr (IsOptional<T>::value) {
    if (!v) return std::nullopt;
    return rebuild(*v, tensors, next);
  } else {
    return v;
  }
}

// ---- results ---------------------------------------------------------------------------------

template <typename T>
constexpr void check_result_type() {
  if constexpr (std::is_same_v<T, Tensor>) {
  } else if constexpr (HasFields<T>) {
    using Fields = decltype(std::declval<const T&>().kiln_fields());
    [&]<size_t... I>(std::index_sequence<I...>) {
      (check_result_type<std::decay_t<std::tuple_element_t<I, Fields>>>(), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<Fields>>());
  } else if constexpr (IsVector<T>::value || IsArray<T>::value || IsOptional<T>::value) {
    check_result_type<typename T::value_type>();
  } else if constexpr (IsMap<T>::value) {
    check_result_type<typename T::mapped_type>();
  } else if constexpr (IsTuple<T>::value) {
    [&]<size_t... I>(std::index_sequence<I...>) {
      (check_result_type<std::tuple_element_t<I, T>>(), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<T>>());
  } else {
    static_assert(sizeof(T) == 0,
                  "kiln::function: a result must be a Tensor or a std::vector, std::array, "
                  "std::tuple, std::pair, std::map<std::string, T>, std::optional or "
                  "KILN_FIELDS struct with only Tensors at its leaves");
  }
}

// Builds a T from the flat results and the structure flatten() recorded for it.
template <typename T>
T unflatten(const char*& s, std::span<Tensor> tensors, size_t& next) {
  const char tag = *s++;
  if constexpr (std::is_same_v<T, Tensor>) {
    return std::move(tensors[next++]);
  } else if constexpr (HasFields<T>) {
    s += sizeof(void*);
    T out{};
    std::apply(
        [&](auto&... f) { ((f = unflatten<std::decay_t<decltype(f)>>(s, tensors, next)), ...); },
        out.kiln_fields());
    return out;
  } else if constexpr (IsVector<T>::value) {
    const uint32_t n = get_u32(s);
    T out;
    out.reserve(n);
    for (uint32_t i = 0; i < n; ++i)
      out.push_back(unflatten<typename T::value_type>(s, tensors, next));
    return out;
  } else if constexpr (IsArray<T>::value) {
    get_u32(s);
    T out;
    for (auto& e : out) e = unflatten<typename T::value_type>(s, tensors, next);
    return out;
  } else if constexpr (IsTuple<T>::value) {
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return T{unflatten<std::tuple_element_t<I, T>>(s, tensors, next)...};
    }
    (std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (IsMap<T>::value) {
    const uint32_t n = get_u32(s);
    T out;
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t len = get_u32(s);
      std::string key(s, len);
      s += len;
      out.emplace(std::move(key), unflatten<typename T::mapped_type>(s, tensors, next));
    }
    return out;
  } else if constexpr (IsOptional<T>::value) {
    if (*s++ == '0') return std::nullopt;
    return unflatten<typename T::value_type>(s, tensors, next);
  } else {
    (void)tag;
    return T{};
  }
}

// ---- describe (paths for signatures and retrace reasons) -----------------------------------

// One node of an argument structure, as a trace records it.
struct Leaf {
  enum Kind { kTensor, kValue, kNode };
  std::string path;  // "arg 0['w'][1]"
  Kind kind = kTensor;
  ir::Type type;      // kTensor
  std::string what;   // kNode: "list length", "map keys", "type", "optional"; kValue: "value"
  std::string value;  // kValue: the readable value; kNode: the readable size/keys/type
  std::string key;    // what identifies it exactly (kValue: the cache-key encoding)
};

// The nodes of a call's arguments in order (a container before its elements) and each
// argument's readable form ("[f32[2], f32[3]]").
struct Signature {
  std::vector<Leaf> leaves;
  std::vector<std::string> args;
};

std::string type_name(const char* mangled);  // demangled (function.cc)

template <typename T>
void describe(const T& v, const std::string& path, std::span<const ir::Type> types, size_t& next,
              std::vector<Leaf>& out, std::string& repr) {
  if constexpr (kIsTensor<T>) {
    Leaf l{path, Leaf::kTensor, types[next++], "", "", ""};
    repr += l.type.to_string();
    out.push_back(std::move(l));
  } else if constexpr (HasFields<T>) {
    const std::string name = type_name(typeid(T).name());
    out.push_back(Leaf{path, Leaf::kNode, {}, "type", name, name});
    repr += name + "{";
    std::string_view names = T::kiln_field_names();
    std::vector<std::string> fields;
    while (!names.empty()) {
      const size_t comma = names.find(',');
      std::string_view f = names.substr(0, comma);
      while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
      while (!f.empty() && f.back() == ' ') f.remove_suffix(1);
      fields.emplace_back(f);
      names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
    }
    size_t i = 0;
    std::apply(
        [&](const auto&... f) {
          ((repr += (i ? ", ." : "."), repr += fields[i], repr += " = ",
            describe(f, path + "." + fields[i], types, next, out, repr), ++i),
           ...);
        },
        v.kiln_fields());
    repr += "}";
  } else if constexpr (IsVector<T>::value || IsArray<T>::value) {
    const std::string n = std::to_string(v.size());
    out.push_back(
        Leaf{path, Leaf::kNode, {}, IsVector<T>::value ? "list length" : "array size", n, n});
    repr += "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) repr += ", ";
      describe(v[i], path + "[" + std::to_string(i) + "]", types, next, out, repr);
    }
    repr += "]";
  } else if constexpr (IsTuple<T>::value) {
    const std::string n = std::to_string(std::tuple_size_v<T>);
    out.push_back(Leaf{path, Leaf::kNode, {}, "tuple size", n, n});
    repr += "(";
    size_t i = 0;
    std::apply(
        [&](const auto&... e) {
          ((repr += (i ? ", " : ""),
            describe(e, path + "[" + std::to_string(i) + "]", types, next, out, repr), ++i),
           ...);
        },
        v);
    repr += ")";
  } else if constexpr (IsMap<T>::value) {
    std::string keys = "[";
    for (const auto& [k, e] : v) keys += (keys.size() > 1 ? ", '" : "'") + k + "'";
    keys += "]";
    std::string exact;
    for (const auto& [k, e] : v) put_u32(exact, k.size()), exact += k;
    out.push_back(Leaf{path, Leaf::kNode, {}, "map keys", keys, exact});
    repr += "{";
    bool first = true;
    for (const auto& [k, e] : v) {
      repr += first ? "'" : ", '";
      repr += k + "': ";
      first = false;
      describe(e, path + "['" + k + "']", types, next, out, repr);
    }
    repr += "}";
  } else if constexpr (IsOptional<T>::value) {
    const char* state = v ? "set" : "empty";
    out.push_back(Leaf{path, Leaf::kNode, {}, "optional", state, state});
    if (v) {
      describe(*v, path + ".value()", types, next, out, repr);
    } else {
      repr += "nullopt";
    }
  } else {
    std::string key;
    put_static(key, v);
    Leaf l{path, Leaf::kValue, {}, "value", static_repr(v), std::move(key)};
    repr += l.value;
    out.push_back(std::move(l));
  }
}

}  // namespace kiln::nest
