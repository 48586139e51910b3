from django.urls import path

from memoryspaces.api import views

urlpatterns = [
    path("", views.MemorySpaceListView.as_view(), name="space-list"),
    path("new/", views.MemorySpaceCreateView.as_view(), name="space-create"),
    path("<str:space_id>/", views.MemorySpaceDetailView.as_view(), name="space-detail"),
]
