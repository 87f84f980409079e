#include "router/http1.h"
