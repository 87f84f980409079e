# The libFuzzer targets: fuzz/<name>.cc with fuzz/<name>/corpus/ (seeds) and,
# where it helps, fuzz/<name>.dict. Read by fuzz/CMakeLists.txt (the clang
# build, -DSKYPORT_FUZZ=ON) and fuzz/smoke.cmake (the ctest smoke entries).
set(SKYPORT_FUZZ_TARGETS
  http1_request     # router/http1.h ParseRequest
  http1_response    # router/http1.h ParseResponse
  chunked           # router/http1.h ChunkedScanner
  events            # router/events.h ParseEvents
  pktline           # hub/git/pktline.h Decoder
  receive_pack      # hub/git/receive_pack.h ParseCommands (after pkt-line decoding)
  flight_spec_json  # contract/flight_spec.h ParseFlightSpecText
  flight_spec_yaml  # cli/spec_file.h SpecTextToJson (YAML) -> ParseFlightSpecText
  route_json        # cli/route_json.h RouteFromJson -> contract/route.h ValidateRoute
  static_routes     # router/route_table.h LoadStaticRoutes (the router's --routes file)
  chunked_rewrite   # router/http1.h ChunkedScanner::Decode and ::StripTrailers
  pack_scan         # hub/git/pack_scan.h PackScanner, whole and in pieces
  object_check      # hub/git/object_check.h CheckTree / CheckCommit / CheckTag
  uri_path          # core/uri_path.h NormalizePath, ValidatePathPrefix
  user_cookie       # router/user_cookie.h CheckUserCookie (forged and edited cookies)
  address_list      # core/address_list.h ParseAddressList, ValidateAddress; core/address_order.h
  console_request   # hub/console/console_request.h routes, cookies, login bodies, CSRF; session_table.h
  console_host      # hub/console/host_check.h HostAllowed, OriginListed (DNS rebinding, proxies)
)
