from django.urls import path

from sessions_app.api import views

base = "<str:space_id>/sessions/"
urlpatterns = [
    path(base, views.SessionListCreateView.as_view(), name="session-list"),
    path(base + "<str:session_id>/", views.SessionDetailView.as_view(), name="session-detail"),
    path(base + "<str:session_id>/events/", views.EventListCreateView.as_view(), name="event-list"),
    path(base + "<str:session_id>/events/batch/", views.EventBatchView.as_view(), name="event-batch"),
    path(base + "<str:session_id>/events/<str:sequence_id>/", views.EventDetailView.as_view(),
         name="event-detail"),
]
