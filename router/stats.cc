#include "router/stats.h"
