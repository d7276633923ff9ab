// kiln — buffer-plan: liveness-based sharing of workspace memory (see buffer_plan.h).
//
//   %0 = exp %x : f32[1024]        {buffer = [0]}
//   %1 = neg %0 : f32[1024]        {buffer = [0]}     written over %0, which dies here
//   %2 = tanh %1 : f32[1024]       {buffer = [0]}
//   %3 = exp %2 : f32[1024]        {buffer = [0]}
//   %4 = add %3, %x : f32[1024]                       (returned: lives in the result buffer)
//
// Liveness. Ops of the function body and of cond/while regions (the blocks whose values the
// compiled code keeps in memory; fusion regions are loops and keep nothing) are numbered in
// program order; an op with such regions gets a number before and one after its regions. A
// value lives from its op's first number to the last number of its last user in the same block;
// a user nested in a region counts as the op in this block that contains it, so a value used
// inside a loop stays live until the loop ends. A cond/while result lives from the start of its
// op (a while writes its loop variables before the first iteration). Region arguments alias
// the values they stand for and need nothing of their own. The intervals are closed: an op's
// operands and results share a slot only in an in-place update (writes_in_place below: a
// result written over an operand that dies at the op, read element by element first).
//
// Packing: in-place chains form groups; groups by decreasing size (then by definition order)
// go into the first slot none of whose members is live at the same time, else a new slot. Values
// returned by the function (they live in the caller's result buffers) and constants (globals) take
// no slot.
//
// Unknown dims: liveness and in-place updates do not depend on sizes, so a function with '?'
// dims is planned the same way; sizes are compared as SizeKey (every '?' as one large number),
// which orders values of the same type together and puts batch-sized values before fixed-size
// ones. A slot is sized at run time as its largest member for the shapes of the call (the
// lowering computes each such slot's size and offset once per argument-shape tuple), so any
// packing is correct whatever the '?' turn out to be; the SizeKey order only makes it tight
// when they share one size.
//
// verify_buffer_plan recomputes the intervals and checks every slot; the lowering calls it, so a
// plan made stale by a later pass is an error, never wrong results. Lit test:
// tests/lit/passes/buffer-plan.kir.
#include "passes/buffer_plan.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "passes/pass.h"
#include "support/str.h"

namespace kiln::passes {

int64_t workspace_bytes(const ir::Type& type) {
  const int64_t bytes = type.shape.num_elements() * dtype_size(type.dtype);
  return (bytes + kBufferAlign - 1) / kBufferAlign * kBufferAlign;
}

namespace {

bool has_memory_regions(const ir::Op& op) {
  return op.kind() == ir::OpKind::kCond || op.kind() == ir::OpKind::kWhile;
}

// The size of a value for packing: `unknown` dims ('?') of a run-time size nobody knows yet
// and a `factor` (bytes of the known dims). Sizes compare as if every '?' stood for one large
// number (a batch dim): more unknown dims first, then the larger factor. For a fully defined
// type this is its workspace_bytes, compared exactly.
struct SizeKey {
  int unknown = 0;
  int64_t factor = 0;
  friend bool operator<(const SizeKey& a, const SizeKey& b) {
    return a.unknown != b.unknown ? a.unknown < b.unknown : a.factor < b.factor;
  }
};

SizeKey size_key(const ir::Type& type) {
  if (type.shape.is_fully_defined()) return {0, workspace_bytes(type)};
  SizeKey k{0, dtype_size(type.dtype)};
  for (int64_t d : type.shape.dims()) {
    if (d < 0) {
      ++k.unknown;
    } else {
      k.factor *= d;
    }
  }
  return k;
}

// A value kept in the workspace and when it is live.
struct Candidate {
  const ir::Value* value = nullptr;
  ir::Op* op = nullptr;  // its defining op
  int64_t start = 0, end = 0;
  int64_t bytes = 0;  // workspace_bytes, or 0 if the type has unknown dims
  SizeKey size;
  int64_t order = 0;  // definition order, for a deterministic packing
};

class Liveness {
 public:
  void analyze(const ir::Function& fn) {
    number(fn.body());
    const ir::Op* ret = fn.body().terminator();
    if (ret) {
      for (const ir::Value* v : ret->operands()) returned_.insert(v);
    }
    collect(fn.body());
  }
  std::vector<Candidate>& candidates() { return candidates_; }

 private:
  void number(const ir::Block& block) {
    for (const auto& op : block.ops()) {
      const int64_t begin = next_++;
      if (has_memory_regions(*op)) {
        for (int r = 0; r < op->num_regions(); ++r) number(*op->region(r));
      }
      const int64_t end = has_memory_regions(*op) ? next_++ : begin;
      pos_[op.get()] = {begin, end};
    }
  }

  // The op of `block` that is or contains `user` (null if none).
  static const ir::Op* ancestor_in(const ir::Op* user, const ir::Block* block) {
    while (user && user->parent() != block) {
      const ir::Block* parent = user->parent();
      user = parent ? parent->parent_op() : nullptr;
    }
    return user;
  }

  // Records, for every value defined in `block`, the last number of a user, looking at every
  // op nested anywhere below `op`.
  void note_uses(const ir::Op& user, const ir::Block& block) {
    for (const ir::Value* v : user.operands()) {
      if (!v->defining_op() || v->defining_op()->parent() != &block) continue;
      const ir::Op* anc = ancestor_in(&user, &block);
      if (!anc) continue;
      int64_t& last = last_use_[v];
      last = std::max(last, pos_.at(anc).second);
    }
    for (int r = 0; r < user.num_regions(); ++r) {
      for (const auto& inner : user.region(r)->ops()) note_uses(*inner, block);
    }
  }

  void collect(const ir::Block& block) {
    for (const auto& op : block.ops()) note_uses(*op, block);
    for (const auto& op : block.ops()) {
      if (has_memory_regions(*op)) {
        for (int r = 0; r < op->num_regions(); ++r) collect(*op->region(r));
      }
      if (op->kind() == ir::OpKind::kConst) continue;
      const auto [begin, end] = pos_.at(op.get());
      for (int i = 0; i < op->num_results(); ++i) {
        const ir::Value* v = op->result(i);
        if (returned_.contains(v)) continue;
        Candidate c;
        c.value = v;
        c.op = op.get();
        c.start = begin;
        c.end = end;
        if (auto it = last_use_.find(v); it != last_use_.end()) c.end = std::max(c.end, it->second);
        c.bytes = v->type().shape.is_fully_defined() ? workspace_bytes(v->type()) : 0;
        c.size = size_key(v->type());
        c.order = static_cast<int64_t>(candidates_.size());
        candidates_.push_back(c);
      }
    }
  }

  absl::flat_hash_map<const ir::Op*, std::pair<int64_t, int64_t>> pos_;
  absl::flat_hash_map<const ir::Value*, int64_t> last_use_;
  absl::flat_hash_set<const ir::Value*> returned_;
  std::vector<Candidate> candidates_;
  int64_t next_ = 0;
};

bool overlaps(const Candidate& a, const Candidate& b) {
  return a.start <= b.end && b.start <= a.end;
}

// Whether `op` may write its result #r over its operand #k (which dies at `op`): the compiled
// code reads each element of the operand before writing the same element of the result, or the
// op is a reshape (the same bytes). Elementwise ops and loop fusions qualify when the operand
// has the result's shape and element size and (in a fusion) is read only by elementwise ops at
// the loop's own index (no broadcast, no transposed read).
// Unknown dims: an operand and result of one type (the same '?' positions) have the same shape
// at run time, since compiled code never broadcasts along a dim unknown when traced
// (compiler/resolve_shapes.cc, Resolver::check_elementwise, run for every elementwise op and
// loop fusion at bind time); a reshape/expand_dims/squeeze keeps its element count at run time
// (resolve_shapes infers its result from the operand's run-time shape).
bool writes_in_place(const ir::Op& op, int k, int r) {
  const ir::Type& in = op.operand(k)->type();
  const ir::Type& out = op.result(r)->type();
  // Read through one operand only (no second pointer to the buffer being written).
  if (std::count(op.operands().begin(), op.operands().end(), op.operand(k)) != 1) return false;
  switch (op.kind()) {
    case ir::OpKind::kReshape:
    case ir::OpKind::kExpandDims:
    case ir::OpKind::kSqueeze:
      if (op.num_results() != 1 || dtype_size(in.dtype) != dtype_size(out.dtype)) return false;
      return !in.shape.is_fully_defined() || !out.shape.is_fully_defined() ||
             in.shape.num_elements() == out.shape.num_elements();
    default:
      break;
  }
  if (!(in.shape == out.shape) || dtype_size(in.dtype) != dtype_size(out.dtype)) return false;
  if (op.kind() == ir::OpKind::kFusion) {
    if (ir::attr_or<std::string>(op.attrs(), "kind", "loop") != "loop") return false;
    const ir::Block* region = op.region();
    if (!region || k >= region->num_arguments()) return false;
    const ir::Value* arg = region->argument(k);
    for (const auto& inner : region->ops()) {
      for (const ir::Value* v : inner->operands()) {
        if (v != arg || inner->kind() == ir::OpKind::kYield) continue;
        if (!ir::is_elementwise(inner->kind()) || inner->kind() == ir::OpKind::kBroadcast) {
          return false;
        }
      }
    }
    return true;
  }
  return ir::is_elementwise(op.kind()) && op.kind() != ir::OpKind::kBroadcast &&
         op.num_results() == 1;
}

// `m` (defined by an op at its start) may share a slot with `earlier`, live until that same op:
// `earlier` is an operand the op writes over.
bool in_place_pair(const Candidate& earlier, const Candidate& m) {
  if (earlier.end != m.start) return false;
  for (int k = 0; k < m.op->num_operands(); ++k) {
    if (m.op->operand(k) == earlier.value && writes_in_place(*m.op, k, m.value->index())) {
      return true;
    }
  }
  return false;
}

void erase_plan(ir::Block& block) {
  for (auto& op : block.ops()) {
    op->attrs().erase(kBufferAttr);
    if (has_memory_regions(*op)) {
      for (int r = 0; r < op->num_regions(); ++r) erase_plan(*op->region(r));
    }
  }
}

class BufferPlanPass : public FunctionPass {
 public:
  std::string_view name() const override { return "buffer-plan"; }

  absl::StatusOr<bool> run_on_function(ir::Function& fn) override {
    // The plan before, to report whether anything changed.
    std::map<const ir::Op*, ir::Attribute> before;
    Liveness live;
    live.analyze(fn);
    std::vector<Candidate>& cands = live.candidates();
    for (const Candidate& c : cands) {
      if (auto it = c.op->attrs().find(kBufferAttr); it != c.op->attrs().end()) {
        before[c.op] = it->second;
      }
    }
    erase_plan(fn.body());

    // In-place chains: a result that may be written over an operand dying at its op joins that
    // operand's group (each operand and each result at most once); a group is packed as one.
    absl::flat_hash_map<const ir::Value*, Candidate*> by_value;
    for (Candidate& c : cands) by_value[c.value] = &c;
    std::vector<int64_t> group(cands.size());
    for (size_t i = 0; i < cands.size(); ++i) group[i] = static_cast<int64_t>(i);
    auto find = [&](int64_t i) {
      while (group[i] != i) i = group[i] = group[group[i]];
      return i;
    };
    absl::flat_hash_set<const ir::Value*> consumed;
    for (Candidate& c : cands) {
      for (int k = 0; k < c.op->num_operands(); ++k) {
        auto it = by_value.find(c.op->operand(k));
        if (it == by_value.end() || consumed.contains(it->first)) continue;
        if (!in_place_pair(*it->second, c)) continue;
        consumed.insert(it->first);
        group[find(c.order)] = find(it->second->order);
        ++in_place_;
        break;
      }
    }
    struct Group {
      std::vector<const Candidate*> members;
      SizeKey size;
      int64_t order = 0;
    };
    std::map<int64_t, Group> groups;
    for (const Candidate& c : cands) {
      Group& g = groups[find(c.order)];
      if (g.members.empty()) g.order = c.order;
      g.members.push_back(&c);
      g.size = std::max(g.size, c.size);
    }
    std::vector<const Group*> order;
    for (const auto& [root, g] : groups) order.push_back(&g);
    std::stable_sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
      if (a->size < b->size || b->size < a->size) return b->size < a->size;
      return a->order < b->order;
    });
    std::vector<std::vector<const Candidate*>> slots;
    absl::flat_hash_map<const ir::Value*, int64_t> slot_of;
    for (const Group* g : order) {
      size_t s = 0;
      for (; s < slots.size(); ++s) {
        const bool clash = std::any_of(slots[s].begin(), slots[s].end(), [&](const Candidate* m) {
          return std::any_of(g->members.begin(), g->members.end(),
                             [&](const Candidate* c) { return overlaps(*m, *c); });
        });
        if (!clash) break;
      }
      if (s == slots.size()) slots.emplace_back();
      for (const Candidate* c : g->members) {
        slots[s].push_back(c);
        slot_of[c->value] = static_cast<int64_t>(s);
      }
    }
    // Slots numbered in order of first definition, so the text reads top to bottom.
    std::vector<int64_t> renumber(slots.size(), -1);
    int64_t next = 0;
    for (const Candidate& c : cands) {
      int64_t& r = renumber[slot_of.at(c.value)];
      if (r < 0) r = next++;
    }
    for (const Candidate& c : cands) {
      auto& attrs = c.op->attrs();
      auto it = attrs.find(kBufferAttr);
      if (it == attrs.end()) {
        it = attrs.emplace(kBufferAttr, std::vector<int64_t>(c.op->num_results(), -1)).first;
      }
      std::get<std::vector<int64_t>>(it->second)[c.value->index()] = renumber[slot_of.at(c.value)];
    }
    values_ += static_cast<int64_t>(cands.size());
    slots_ += static_cast<int64_t>(slots.size());
    bool changed = false;
    for (const Candidate& c : cands) {
      auto it = before.find(c.op);
      const ir::Attribute& now = c.op->attrs().at(kBufferAttr);
      if (it == before.end() || !(it->second == now)) changed = true;
    }
    return changed;
  }

  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    return {{"values", values_}, {"slots", slots_}, {"in-place", in_place_}};
  }

 private:
  int64_t in_place_ = 0;
  int64_t values_ = 0;
  int64_t slots_ = 0;
};

}  // namespace

absl::Status verify_buffer_plan(const ir::Function& fn, BufferPlanStats* stats) {
  Liveness live;
  live.analyze(fn);
  std::vector<Candidate>& cands = live.candidates();
  std::vector<std::vector<const Candidate*>> slots;
  BufferPlanStats st;
  for (const Candidate& c : cands) {
    st.values += 1;
    st.unplanned_bytes += c.bytes;
    int64_t slot = -1;
    if (auto it = c.op->attrs().find(kBufferAttr); it != c.op->attrs().end()) {
      const auto* list = std::get_if<std::vector<int64_t>>(&it->second);
      if (!list || static_cast<int>(list->size()) != c.op->num_results()) {
        return absl::InvalidArgumentError(
            cat("buffer plan: '", c.op->mnemonic(), "' has a malformed 'buffer' attribute"));
      }
      slot = (*list)[c.value->index()];
    }
    if (slot < 0) {
      st.planned_bytes += c.bytes;  // a slot of its own (unknown dims: sized at run time)
      continue;
    }
    if (slot >= static_cast<int64_t>(cands.size())) {
      return absl::InvalidArgumentError(
          cat("buffer plan: slot ", slot, " of '", c.op->mnemonic(), "' is out of range"));
    }
    if (slot >= static_cast<int64_t>(slots.size())) slots.resize(slot + 1);
    slots[slot].push_back(&c);
  }
  for (size_t s = 0; s < slots.size(); ++s) {
    std::vector<const Candidate*>& members = slots[s];
    std::sort(members.begin(), members.end(),
              [](const Candidate* a, const Candidate* b) { return a->start < b->start; });
    int64_t bytes = 0;
    bool sized_at_run_time = false;
    const Candidate* latest = nullptr;  // the member seen so far that lives longest
    for (const Candidate* m : members) {
      bytes = std::max(bytes, m->bytes);
      sized_at_run_time |= !m->value->type().shape.is_fully_defined();
      if (latest && m->start <= latest->end && !in_place_pair(*latest, *m)) {
        return absl::InvalidArgumentError(
            cat("buffer plan is out of date: result #", latest->value->index(), " of '",
                latest->op->mnemonic(), "' and result #", m->value->index(), " of '",
                m->op->mnemonic(), "' share slot ", s,
                " but are live at the same time; run buffer-plan after every pass that moves ops"));
      }
      if (!latest || m->end > latest->end) latest = m;
    }
    st.slot_bytes.push_back(bytes);
    st.slot_sized_at_run_time.push_back(sized_at_run_time);
    std::vector<const ir::Value*>& values = st.slot_values.emplace_back();
    for (const Candidate* m : members) values.push_back(m->value);
    if (!sized_at_run_time) st.planned_bytes += bytes;
  }
  st.slots = static_cast<int64_t>(st.slot_bytes.size());
  if (stats) *stats = std::move(st);
  return absl::OkStatus();
}

std::unique_ptr<Pass> create_buffer_plan_pass() { return std::make_unique<BufferPlanPass>(); }

}  // namespace kiln::passes
