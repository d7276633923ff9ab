// kiln — the one header users include.
#pragma once

#include "compiler/function.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"
#include "support/error.h"
