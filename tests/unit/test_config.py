import re
from pathlib import Path

import pytest

from cartrack_desktop.config import DEFAULT_CARS, SETTINGS, ConfigError, load_settings, redact_url


def settings(argv=(), env=None, dotenv: Path | None = None, tmp: Path | None = None):
    return load_settings(list(argv), environ=env or {}, dotenv_path=dotenv or Path("/nonexistent/.env"))


def test_defaults():
    s = settings()
    assert s.redis_url is None and s.mongo_uri is None
    assert s.cars == DEFAULT_CARS and s.simulator and not s.headless and s.duration is None
    assert s.mongo_db == "cartrack"
    assert s.tile_url.startswith("https://tile.openstreetmap.org/")
    assert "OpenStreetMap" in s.tile_attribution


def test_precedence_cli_over_env_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("CARTRACK_CARS=7\nCARTRACK_REDIS_URL=redis://dotenv:1/0\nCARTRACK_LOG_LEVEL=debug\n")
    s = settings(env={}, dotenv=dotenv)
    assert (s.cars, s.redis_url, s.log_level) == (7, "redis://dotenv:1/0", "DEBUG")
    s = settings(env={"CARTRACK_CARS": "8"}, dotenv=dotenv)
    assert s.cars == 8 and s.redis_url == "redis://dotenv:1/0"
    s = settings(["--cars", "9", "--redis-url", "redis://cli:2/0"], env={"CARTRACK_CARS": "8"}, dotenv=dotenv)
    assert s.cars == 9 and s.redis_url == "redis://cli:2/0"


def test_seed_redis_variables():
    s = settings(env={"REDIS_HOST": "db.example", "REDIS_PORT": "6380", "REDIS_PASSWORD": "p@ss:w/rd",
                      "REDIS_DB": "3"})
    assert s.redis_url == "redis://:p%40ss%3Aw%2Frd@db.example:6380/3"
    # the explicit URL wins over the seed variables
    s = settings(env={"REDIS_HOST": "db.example", "CARTRACK_REDIS_URL": "redis://other:1/0"})
    assert s.redis_url == "redis://other:1/0"


def test_mongo_database_from_uri():
    assert settings(["--mongo-uri", "mongodb://h:27017/fleetdb"]).mongo_db == "fleetdb"
    assert settings(["--mongo-uri", "mongodb://h:27017/"]).mongo_db == "cartrack"


@pytest.mark.parametrize(("argv", "env", "setting"), [
    (["--cars", "-5"], {}, "--cars"),
    (["--cars", "many"], {}, "--cars"),
    ([], {"CARTRACK_CARS": "-1"}, "CARTRACK_CARS"),
    (["--redis-url", "http://x:1"], {}, "--redis-url"),
    (["--redis-url", "redis://:99999999"], {}, "--redis-url"),
    ([], {"CARTRACK_REDIS_URL": "redis//nope"}, "CARTRACK_REDIS_URL"),
    (["--mongo-uri", "postgres://x"], {}, "--mongo-uri"),
    (["--mongo-uri", "mongodb://h:notaport"], {}, "--mongo-uri"),
    (["--duration", "0"], {}, "--duration"),
    (["--duration", "nan"], {}, "--duration"),
    (["--log-level", "LOUD"], {}, "--log-level"),
    (["--tiles", "ftp://x/{z}/{x}/{y}"], {}, "--tiles"),
    (["--tiles", "https://x/tile.png"], {}, "--tiles"),
    ([], {"REDIS_HOST": "h", "REDIS_PORT": "x"}, "REDIS_PORT"),
    (["--bogus"], {}, "command line"),
    (["--headless", "--screenshot", "x.png"], {}, "--screenshot"),
])
def test_bad_values_name_the_setting(argv, env, setting):
    with pytest.raises(ConfigError) as info:
        settings(argv, env=env)
    assert info.value.setting == setting
    assert "\n" not in str(info.value)


def test_no_tiles():
    assert settings(["--tiles", "none"]).tile_url == ""


def test_redact_url():
    assert redact_url("redis://user:secret@h:1/0") == "redis://user:***@h:1/0"
    assert redact_url("redis://:secret@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("mongodb://h:1/db") == "mongodb://h:1/db"
    assert "secret" not in redact_url("unix://:secret@/tmp/x.sock?db=0")


def test_rendering_is_a_setting_like_the_others(tmp_path):
    assert settings().rendering == "auto"
    dotenv = tmp_path / ".env"
    dotenv.write_text("CARTRACK_RENDERING=software\n")
    assert settings(dotenv=dotenv).rendering == "software"           # a .env value is honoured
    assert settings(env={"CARTRACK_RENDERING": "GPU"}, dotenv=dotenv).rendering == "gpu"
    assert settings(["--rendering", "hardware"], env={"CARTRACK_RENDERING": "software"}).rendering == "gpu"
    with pytest.raises(ConfigError) as info:
        settings(env={"CARTRACK_RENDERING": "opengl"})
    assert info.value.setting == "CARTRACK_RENDERING"


def test_every_setting_is_in_the_readme():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for row in SETTINGS:
        assert re.search(rf"`{row.env}[`=]", table), row.env
        for option in (row.flag, *(sw.flag for sw in row.switches)):
            if option is not None and option != "--simulator":    # on by default: only --no-simulator is listed
                assert f"`{option}" in table, option


def test_system_is_not_a_dispatcher_name():
    """"system" names the changes no person makes (issue 17 §5): nobody may sign as it."""
    with pytest.raises(ConfigError, match="reserved"):
        settings(["--dispatcher", "System"])
    with pytest.raises(ConfigError, match="reserved"):
        settings(env={"CARTRACK_DISPATCHER": "system"})
    assert settings(["--dispatcher", "systems"]).dispatcher == "systems"


def test_fleet_area_and_tile_contact():
    s = settings(["--fleet-area", "33.64,-84.55,33.89,-84.29", "--tile-contact", "ops@example.org"])
    assert s.fleet_area == (33.64, -84.55, 33.89, -84.29) and s.tile_contact == "ops@example.org"
    assert settings().fleet_area is None and settings().tile_contact == ""
    assert settings(env={"CARTRACK_FLEET_AREA": "1,2,3,4"}).fleet_area == (1.0, 2.0, 3.0, 4.0)
    for bad in ("1,2,3", "a,b,c,d", "3,2,1,4", "1,5,3,4", "nan,1,2,3", "1,2,100,4"):
        with pytest.raises(ConfigError) as info:
            settings(["--fleet-area", bad])
        assert info.value.setting == "--fleet-area"
    with pytest.raises(ConfigError):
        settings(["--tile-contact", "a\nb"])


def test_the_page_engine_favours_memory_unless_the_user_set_js_flags():
    from cartrack_desktop.ui.application import PAGE_JS_FLAGS, configure_rendering

    env: dict[str, str] = {}
    assert configure_rendering("software", env) == "software"
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"].split() == [PAGE_JS_FLAGS, "--disable-gpu"]
    env = {"QTWEBENGINE_CHROMIUM_FLAGS": "--js-flags=--max-old-space-size=512"}
    assert configure_rendering("gpu", env) == "gpu"
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"] == "--js-flags=--max-old-space-size=512"


def test_without_a_gpu_opengl_loads_no_driver_unless_the_user_says_otherwise():
    from cartrack_desktop.ui.application import configure_rendering

    env: dict[str, str] = {}
    configure_rendering("software", env)
    assert env["LIBGL_ALWAYS_INDIRECT"] == "1" and env["QT_QUICK_BACKEND"] == "software"
    env = {"LIBGL_ALWAYS_INDIRECT": "0"}
    configure_rendering("software", env)
    assert env["LIBGL_ALWAYS_INDIRECT"] == "0"
    env = {}
    configure_rendering("gpu", env)
    assert "LIBGL_ALWAYS_INDIRECT" not in env and "QT_QUICK_BACKEND" not in env
