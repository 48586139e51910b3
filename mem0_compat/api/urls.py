from django.urls import path, re_path

from mem0_compat.api import views

space = "<str:space_id>/"
oss = r"^(?P<space_id>[^/]+)/"  # mem0's own server shape: with or without the trailing slash
urlpatterns = [
    path(space + "v1/ping/", views.PingView.as_view(), name="mem0-ping"),
    path(space + "v1/memories/", views.MemoriesV1View.as_view(), name="mem0-memories-v1"),
    path(space + "v1/memories/search/", views.SearchV1View.as_view(), name="mem0-search-v1"),
    # seed 002's curl examples: the batch and export routes under v1/memories/, before the memory ids
    path(space + "v1/memories/batch/", views.SeedBatchView.as_view(), name="mem0-batch-seed"),
    path(space + "v1/memories/export/", views.SeedExportView.as_view(), name="mem0-export-seed"),
    path(space + "v1/memories/<str:memory_id>/", views.MemoryDetailView.as_view(), name="mem0-memory"),
    path(space + "v1/memories/<str:memory_id>/history/", views.HistoryView.as_view(), name="mem0-history"),
    path(space + "v1/reset/", views.ResetView.as_view(), name="mem0-reset"),
    path(space + "v1/entities/", views.EntitiesView.as_view(), name="mem0-entities"),
    path(space + "v1/batch/", views.BatchView.as_view(), name="mem0-batch"),
    path(space + "v1/exports/", views.ExportView.as_view(), name="mem0-exports"),
    path(space + "v1/exports/get/", views.ExportGetView.as_view(), name="mem0-exports-get"),
    path(space + "v1/feedback/", views.FeedbackView.as_view(), name="mem0-feedback"),
    path(space + "v1/event/<str:event_id>/", views.AddStatusView.as_view(), name="mem0-event"),
    path(space + "v2/memories/", views.GetAllView.as_view(), name="mem0-list-v2"),
    path(space + "v2/memories/search/", views.SearchView.as_view(), name="mem0-search-v2"),
    # <path:name>: an entity id may hold a slash (team/alice), which arrives decoded from %2F
    path(space + "v2/entities/<str:entity_type>/<path:name>/", views.EntityDeleteView.as_view(),
         name="mem0-entity-delete"),
    path(space + "v3/memories/add/", views.AddV3View.as_view(), name="mem0-add-v3"),
    path(space + "v3/memories/", views.GetAllView.as_view(), name="mem0-list-v3"),
    path(space + "v3/memories/search/", views.SearchView.as_view(), name="mem0-search-v3"),
    re_path(oss + r"memories/?$", views.OssMemoriesView.as_view(), name="oss-memories"),
    re_path(oss + r"memories/(?P<memory_id>[^/]+)/?$", views.OssMemoryDetailView.as_view(), name="oss-memory"),
    re_path(oss + r"memories/(?P<memory_id>[^/]+)/history/?$", views.OssHistoryView.as_view(),
            name="oss-history"),
    re_path(oss + r"search/?$", views.OssSearchView.as_view(), name="oss-search"),
    re_path(oss + r"configure/?$", views.OssConfigureView.as_view(), name="oss-configure"),
    re_path(oss + r"reset/?$", views.OssResetView.as_view(), name="oss-reset"),
]
