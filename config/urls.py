from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import views
from memoryspaces.api.views import VersionView

api = [
    path("version/", VersionView.as_view(), name="version"),
    path("memory/", include("mem0_compat.api.urls")),
    path("memory/", include("sessions_app.api.urls")),
    path("memory/", include("memoryspaces.api.urls")),
]

urlpatterns = [
    path("", views.landing, name="landing"),
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("admin/", admin.site.urls),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("schema/swagger-ui/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("schema/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v2/", include(api)),
]

handler400 = "config.views.bad_request"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
