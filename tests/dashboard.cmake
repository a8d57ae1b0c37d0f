# The dashboard in a real headless Chromium (Debian's chromium and
# chromium-driver, driven by Debian's python3-selenium, all installed by
# scripts/install-deps.sh) against real daemons. Without them the test fails
# and says what is missing: it is never skipped.
if(TARGET tesd AND TARGET tes)
  # Debian's python3, whose selenium is in /usr/lib/python3/dist-packages.
  add_test(NAME dashboard_browser_test
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/dashboard/dashboard_test.py
                   --tesd $<TARGET_FILE:tesd> --tes $<TARGET_FILE:tes>)
  set_tests_properties(dashboard_browser_test PROPERTIES TIMEOUT 300)
endif()
