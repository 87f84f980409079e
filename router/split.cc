#include "router/split.h"
