// kiln — the one header users include.
#pragma once

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/control_flow.h"
#include "runtime/gradient_tape.h"
#include "runtime/indexing.h"
#include "runtime/math_ops.h"
#include "runtime/npy.h"
#include "runtime/ops.h"
#include "runtime/parallel.h"
#include "runtime/random.h"
#include "runtime/tensor.h"
#include "runtime/variable.h"
#include "support/error.h"
