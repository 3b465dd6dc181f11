// Umbrella header of the public C++ API.
#pragma once

#include "flashattn/attention.h"
#include "flashattn/dtype.h"
#include "flashattn/error.h"
#include "flashattn/options.h"
#include "flashattn/tensor.h"
#include "flashattn/version.h"
