// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Umbrella header: everything an embedding application needs.

#ifndef OPENBITS_OPENBITS_H_
#define OPENBITS_OPENBITS_H_

#include "openbits/hresult.h"
#include "openbits/job.h"
#include "openbits/manager.h"
#include "openbits/status.h"
#include "openbits/types.h"

#endif  // OPENBITS_OPENBITS_H_
