#include "router/route_table.h"
